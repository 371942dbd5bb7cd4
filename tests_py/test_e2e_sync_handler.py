"""A *sync* task.request handler calling ``store.save()`` under 16 concurrent clients of a real
asap-protocol server (uvicorn on 127.0.0.1), the store from asap's own classes.

asap runs a sync handler in a worker thread (``run_in_executor``), so ``save()`` runs off the
event loop, in many threads at once. After ``install()`` every request is served and saved.

No baseline test with asap's own store: it is not deterministic, it hangs. asap runs each sync
call on an event loop of its own (``asap.state.stores._sync_bridge._run_sync``) while the
repository's ``asyncio.Lock``s stay bound to the first loop that waited on them. The same
server and load (16 clients x 20 requests) with asap 2.5.10's ``SQLiteSnapshotStore``: 318 of
320 requests answered "Internal server error" (``RuntimeError: <asyncio.locks.Lock ...
[unlocked, waiters:1]> is bound to a different event loop``), 1 served, and 1 never answered:
its worker thread waits forever on a lock released on another loop, so the server cannot shut
down either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asap_server import HTTP_TIMEOUT, post, rpc_body, saving_app, serve, task_envelope

import asap_native.integration as native_asap

pytest.importorskip("uvicorn")

CLIENTS = 16
STEPS = 8  # requests per client: one task per client, steps 1..STEPS
USAGE = {"tokens_in": 3, "tokens_out": 2, "api_calls": 1}


def _task(client: int) -> str:
    return f"task-{client}"


def _send_all(url: str) -> Counter[str]:
    """Every client's steps, the 16 clients at once; the outcome of each request ("ok" or the
    error the server answered)."""

    def one_client(client: int) -> list[str]:
        outcomes = []
        with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT) as http:
            for step in range(1, STEPS + 1):
                envelope = task_envelope(_task(client), step, {"c": client, "s": step}, USAGE)
                body = rpc_body(envelope, f"{client}-{step}")
                answer = post(http, body, None)
                if answer.status_code != 200:
                    outcomes.append(f"HTTP {answer.status_code}")
                    continue
                result = answer.json()
                outcomes.append("ok" if "result" in result else str(result["error"]))
        return outcomes

    with ThreadPoolExecutor(CLIENTS) as pool:
        return Counter(o for outcomes in pool.map(one_client, range(CLIENTS)) for o in outcomes)


@pytest.fixture
def sync_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A server whose sync handler saves into asap's ``SQLiteSnapshotStore`` class, native after
    ``install()``."""
    native_asap.install()
    try:
        import asap.state.stores as asap_stores  # looked up now: the native class

        store = asap_stores.SQLiteSnapshotStore(tmp_path / "sync.db")
        assert type(store).__module__.startswith("asap_native")
        try:
            with serve(saving_app(snapshot_store=store)) as url:
                yield url, store
        finally:
            store.close()
    finally:
        native_asap.uninstall()


def test_sync_handler_saves_every_request_after_install(sync_server: tuple[str, Any]) -> None:
    url, store = sync_server
    outcomes = _send_all(url)
    assert outcomes == {"ok": CLIENTS * STEPS}
    for client in range(CLIENTS):
        assert store.list_versions(_task(client)) == list(range(1, STEPS + 1))
        latest = store.get(_task(client))
        assert latest.version == STEPS and latest.data == {"c": client, "s": STEPS}
