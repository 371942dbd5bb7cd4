"""Request decompression: asap_native vs Python's gzip module and the brotli package.

Measures, for JSON bodies of 1 KB, 100 KB and 5 MB compressed as asap-protocol sends them
(gzip level 6, brotli quality 4):

* single-thread throughput of ``asap_native.compression.decompress_payload`` against
  ``gzip.decompress`` / ``brotli.decompress`` (and asap-protocol's ``decompress_payload``);
* two-thread throughput relative to one thread, which shows whether the GIL is released;

and for a 1 GiB gzip and brotli bomb, the time to rejection and the peak memory growth of
asap_native (``max_size`` 10 MiB) beside asap-protocol's handler path (decompress everything,
then compare the size), each in a fresh subprocess measured with ``getrusage``.

    python bench/bench_compression.py [--quick]
"""

from __future__ import annotations

import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from tests_py._bombs import brotli_bomb, gzip_bomb

TITLE = "Request decompression (gzip, brotli)"
MAX_SIZE = 10 * 1024 * 1024  # asap-protocol's MAX_REQUEST_SIZE
BOMB_SIZE = 1 << 30
SIZES = (("1 KB", 1024), ("100 KB", 100 * 1024), ("5 MB", 5 * 1024 * 1024))
ENCODINGS = ("gzip", "br")
# Throughput targets from the issue; two-thread scaling is checked where the GIL is released
# (below 8 KiB of input the work is shorter than a GIL hand-over, so it is kept).
TARGET_RATIO = 1.0
TARGET_SCALING = 1.7
SCALING_CHECKED = ("100 KB", "5 MB")

_WORDS = [
    "task",
    "agent",
    "envelope",
    "payload",
    "status",
    "result",
    "input",
    "output",
    "message",
    "trace",
    "span",
    "conversation",
    "skill",
    "echo",
    "research",
    "analysis",
    "summary",
    "document",
    "request",
    "response",
    "pending",
    "completed",
]


def json_body(size: int, seed: int = 7) -> bytes:
    """A JSON-RPC-like body of about ``size`` bytes: ids, words, numbers (gzip ratio ~4-5x)."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    total = 0
    while total < size - 80:
        item = {
            "id": f"{rng.getrandbits(128):032x}",
            "role": rng.choice(_WORDS),
            "text": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(5, 30))),
            "score": round(rng.random(), 4),
            "n": rng.randrange(10**6),
        }
        items.append(item)
        total += len(json.dumps(item)) + 2
    body = {"jsonrpc": "2.0", "method": "asap.send", "id": "1", "params": {"items": items}}
    return json.dumps(body).encode()


# ---------------------------------------------------------------- throughput


def _implementations(encoding: str) -> dict[str, Callable[[bytes], bytes]]:
    import brotli
    from asap.transport import compression as asap_compression

    from asap_native.compression import decompress_payload

    reference = gzip.decompress if encoding == "gzip" else brotli.decompress
    return {
        "asap_native": lambda data: decompress_payload(data, encoding),
        "python": reference,
        "asap-protocol": lambda data: asap_compression.decompress_payload(data, encoding),
    }


def _time_calls(function: Callable[[bytes], bytes], data: bytes, calls: int) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) for ``calls`` calls."""
    cpu = time.thread_time()
    started = time.perf_counter()
    for _ in range(calls):
        function(data)
    return time.perf_counter() - started, time.thread_time() - cpu


def _time_two_threads(
    function: Callable[[bytes], bytes], data: bytes, calls: int
) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for two threads making ``calls`` calls each."""
    barrier = threading.Barrier(3)
    done = [0.0, 0.0]

    def worker(slot: int) -> None:
        barrier.wait()
        for _ in range(calls):
            function(data)
        done[slot] = time.perf_counter()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return max(done) - started, time.process_time() - cpu


def _measure_throughput(
    label: str,
    size: int,
    encoding: str,
    rounds: int,
    seconds_per_run: float,
    report: common.Progress,
    fraction: tuple[float, float],
) -> dict[str, Any]:
    import brotli

    body = json_body(size)
    data = gzip.compress(body, 6) if encoding == "gzip" else brotli.compress(body, quality=4)
    implementations = _implementations(encoding)
    for function in implementations.values():
        assert function(data) == body
    # Calls per timed run, from one calibration call each, so a run lasts ~seconds_per_run.
    calls: dict[str, int] = {}
    for name, function in implementations.items():
        started = time.perf_counter()
        function(data)
        function(data)
        each = max((time.perf_counter() - started) / 2, 1e-7)
        calls[name] = max(1, int(seconds_per_run / each))
    wall: dict[str, list[float]] = {name: [] for name in implementations}
    cpu: dict[str, list[float]] = {name: [] for name in implementations}
    two_wall: dict[str, list[float]] = {name: [] for name in ("asap_native", "python")}
    two_busy: dict[str, list[float]] = {name: [] for name in two_wall}
    names = list(implementations)
    for round_index in range(rounds):
        # Rotate the order each round so drift in machine load hits everyone alike.
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            n = calls[name]
            wall_s, cpu_s = _time_calls(implementations[name], data, n)
            wall[name].append(n * len(body) / wall_s)
            cpu[name].append(n * len(body) / max(cpu_s, 1e-9))
            if name in two_wall:
                wall_s, cpu_s = _time_two_threads(implementations[name], data, n)
                two_wall[name].append(2 * n * len(body) / wall_s)
                two_busy[name].append(cpu_s / wall_s)
        start, span = fraction
        report(
            start + span * (round_index + 1) / rounds,
            f"{label} {encoding}: round {round_index + 1}",
        )
    median = {name: statistics.median(values) for name, values in wall.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    median_two = {name: statistics.median(values) for name, values in two_wall.items()}
    return {
        "size": len(body),
        "compressed": len(data),
        "calls_per_run": calls,
        "rounds": rounds,
        "throughput_mb_s": {name: value / 1e6 for name, value in median.items()},
        "cpu_throughput_mb_s": {name: value / 1e6 for name, value in median_cpu.items()},
        "two_thread_mb_s": {name: value / 1e6 for name, value in median_two.items()},
        # CPU time per byte, which other processes on the machine do not inflate.
        "ratio_vs_python": median_cpu["asap_native"] / median_cpu["python"],
        "ratio_vs_python_wall": median["asap_native"] / median["python"],
        "ratio_vs_asap": median_cpu["asap_native"] / median_cpu["asap-protocol"],
        "scaling": {name: median_two[name] / median[name] for name in median_two},
        # Process CPU seconds per wall second while two threads run: 2.0 when both run at
        # once (GIL released and two idle cores), 1.0 when they take turns.
        "two_thread_cpu_per_wall": {
            name: statistics.median(values) for name, values in two_busy.items()
        },
    }


# ---------------------------------------------------------------- bombs (in subprocesses)

_CHILD_FLAG = "--bomb-child"


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Resets this process's peak RSS (Linux); ru_maxrss alone may hold the parent's peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _bomb_child(implementation: str, encoding: str, path: str, max_size: int) -> None:
    """Runs in a fresh interpreter: one rejection of the bomb, as a request handler does it."""
    import gc
    import resource

    data = Path(path).read_bytes()
    if implementation == "asap_native":
        from asap_native.compression import DecompressionLimitExceededError, decompress_payload

        def handle() -> bool:
            try:
                bytearray(decompress_payload(bytes(data), encoding, max_size=max_size))
            except DecompressionLimitExceededError:
                return True
            return False

    else:
        from asap.transport.compression import decompress_payload as asap_decompress

        def handle() -> bool:
            # asap-protocol's parse_json_body: decompress it all, then check the size.
            body = bytearray(asap_decompress(bytes(data), encoding))
            return len(body) > max_size

    gc.collect()
    exact = _reset_peak_rss()
    rss_before = _status_kib("VmRSS") if exact else None
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    rejected = handle()
    elapsed = time.perf_counter() - started
    if exact and rss_before is not None:
        growth = (_status_kib("VmHWM") or 0) - rss_before
        method = "VmHWM - VmRSS"
    else:
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
        method = "ru_maxrss"
    print(
        json.dumps(
            {"rejected": rejected, "seconds": elapsed, "peak_growth_kib": growth, "method": method}
        )
    )


def _run_bomb(implementation: str, encoding: str, path: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        _CHILD_FLAG,
        implementation,
        encoding,
        str(path),
        str(MAX_SIZE),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bomb child failed ({done.returncode}): {done.stderr[-2000:]}")
    line = [text for text in done.stdout.splitlines() if text.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    return result


def _measure_bombs(
    quick: bool, report: common.Progress, fraction: tuple[float, float]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    total = (32 << 20) if quick else BOMB_SIZE
    repeats = {"asap_native": 1 if quick else 3, "asap-protocol": 1}
    start, span = fraction
    with tempfile.TemporaryDirectory(prefix="asap-bomb-") as tmp:
        for index, encoding in enumerate(ENCODINGS):
            # The largest standard brotli window (16 MiB): the most a brotli bomb can make us hold.
            bomb = (
                gzip_bomb(total) if encoding == "gzip" else brotli_bomb(total, quality=4, lgwin=24)
            )
            path = Path(tmp) / f"bomb.{encoding}"
            path.write_bytes(bomb)
            entry: dict[str, Any] = {"compressed": len(bomb), "expands_to": total}
            for implementation, count in repeats.items():
                runs = [_run_bomb(implementation, encoding, path) for _ in range(count)]
                entry[implementation] = {
                    "rejected": all(run["rejected"] for run in runs),
                    "seconds": statistics.median(run["seconds"] for run in runs),
                    "peak_growth_mib": max(run["peak_growth_kib"] for run in runs) / 1024,
                    "memory_method": runs[0]["method"],
                    "runs": len(runs),
                }
                report(
                    start + span * (index + 0.5) / len(ENCODINGS),
                    f"bomb {encoding}: {implementation}",
                )
            results[encoding] = entry
    return results


# ---------------------------------------------------------------- report


def _checks(throughput: dict[str, dict[str, Any]], bombs: dict[str, Any]) -> list[common.Check]:
    checks: list[common.Check] = []
    for key, figures in throughput.items():
        label, encoding = key.split("|")
        reference = "gzip" if encoding == "gzip" else "brotli"
        ratio = figures["ratio_vs_python"]
        checks.append(
            common.Check(
                f"decompress {encoding} {label}: vs Python {reference}, 1 thread",
                ratio,
                f">= {TARGET_RATIO:.2f}",
                ratio >= TARGET_RATIO,
            )
        )
    for key, figures in throughput.items():
        label, encoding = key.split("|")
        scaling = figures["scaling"]["asap_native"]
        checked = label in SCALING_CHECKED
        checks.append(
            common.Check(
                f"decompress {encoding} {label}: 2 threads vs 1",
                scaling,
                f">= {TARGET_SCALING:.2f}" if checked else "(info)",
                scaling >= TARGET_SCALING if checked else None,
            )
        )
    bound = MAX_SIZE / (1 << 20) + 24  # the limit, brotli's 16 MiB window, a little slack
    for encoding, entry in bombs.items():
        ours = entry["asap_native"]
        checks.append(
            common.Check(
                f"{entry['expands_to'] >> 20} MiB {encoding} bomb: memory growth",
                ours["peak_growth_mib"],
                f"<= {bound:.0f}",
                ours["rejected"] and ours["peak_growth_mib"] <= bound,
                unit="MiB",
            )
        )
    return checks


def _markdown(
    throughput: dict[str, dict[str, Any]],
    bombs: dict[str, Any],
    quick: bool,
    cpus: int,
    load: tuple[str, str],
) -> str:
    lines = [
        "asap_native's `decompress_payload` against `gzip.decompress` and `brotli.decompress`"
        " (the brotli package) and asap-protocol's `decompress_payload`, on JSON bodies"
        " compressed as asap-protocol sends them (gzip level 6, brotli quality 4). Throughput"
        " is decompressed MB/s (wall clock), the median of rotated rounds; each run loops"
        ' calls for about 0.1 s. "vs Python (CPU)" compares CPU time per byte of the calling'
        " thread, which other processes on a shared machine do not inflate; it is the figure"
        ' checked against the target ("wall" is the same from wall-clock time). "2 threads"'
        " is the throughput of two threads decompressing at once divided by one thread's;"
        ' "CPU/wall" is the process CPU time per wall second during that run: 2.0 when both'
        " threads run at once, 1.0 when they take turns (the GIL held, or a single free"
        f" core). The machine has {cpus} CPU(s), shared with other work: 1, 5 and 15-minute load"
        f" averages {load[0]} at the start of this module, {load[1]} at the end.",
        "",
    ]
    if quick:
        lines += ["**Quick smoke run: figures are not meaningful.**", ""]
    lines += [
        "| body | encoding | compressed | asap_native MB/s | Python MB/s | asap-protocol MB/s "
        "| vs Python (CPU) | vs Python (wall) | 2 threads: asap_native | 2 threads: Python "
        "| CPU/wall, 2 threads: asap_native | CPU/wall, 2 threads: Python |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, f in throughput.items():
        label, encoding = key.split("|")
        mbs = f["throughput_mb_s"]
        busy = f["two_thread_cpu_per_wall"]
        lines.append(
            f"| {label} | {encoding} | {f['compressed']:,} B | {mbs['asap_native']:.0f} "
            f"| {mbs['python']:.0f} | {mbs['asap-protocol']:.0f} | {f['ratio_vs_python']:.2f}x "
            f"| {f['ratio_vs_python_wall']:.2f}x "
            f"| {f['scaling']['asap_native']:.2f}x | {f['scaling']['python']:.2f}x "
            f"| {busy['asap_native']:.2f} | {busy['python']:.2f} |"
        )
    lines += [
        "",
        "Bodies under 8 KiB compressed are decoded with the GIL held (a GIL hand-over costs"
        " about as much as the work), so their two-thread figure is not a target.",
        "",
        "### Decompression bombs",
        "",
        f"A body of zeros that expands to {next(iter(bombs.values()))['expands_to'] >> 20} MiB,"
        f" sent with `max_size` = {MAX_SIZE >> 20} MiB. asap_native stops at the byte past"
        " the limit; asap-protocol's handler decompresses everything and compares the size"
        " afterwards (`bytearray(decompress_payload(...))`, as in its `parse_json_body`)."
        " Each case runs in a fresh interpreter; memory is the peak RSS during the call"
        " minus the RSS before it (Linux: peak reset through `/proc/self/clear_refs`, read as"
        " `VmHWM`; elsewhere the growth of `getrusage` `ru_maxrss`).",
        "",
        "| bomb | compressed | implementation | rejected | time to rejection "
        "| peak memory growth |",
        "|---|---:|---|---|---:|---:|",
    ]
    for encoding, entry in bombs.items():
        for implementation in ("asap_native", "asap-protocol"):
            run = entry[implementation]
            lines.append(
                f"| {encoding} | {entry['compressed']:,} B | {implementation} "
                f"| {'yes (413)' if run['rejected'] else 'no'} | {run['seconds'] * 1000:.0f} ms "
                f"| {run['peak_growth_mib']:.0f} MiB |"
            )
    lines += [
        "",
        "brotli keeps a window of up to 16 MiB (the stream's choice; this bomb asks for the"
        " largest), so a brotli bomb costs at most `max_size` plus that window.",
    ]
    return "\n".join(lines)


def run(progress: common.Progress | None = None, quick: bool = False) -> dict[str, Any]:
    """Runs the benchmark; returns figures, target checks and a markdown section."""
    report = progress or common.no_progress
    started = time.perf_counter()
    load_start = common.load_average()
    rounds, seconds_per_run = (1, 0.01) if quick else (7, 0.1)
    throughput: dict[str, dict[str, Any]] = {}
    cases = [(label, size, encoding) for label, size in SIZES for encoding in ENCODINGS]
    share = 0.75
    for index, (label, size, encoding) in enumerate(cases):
        piece = (share * index / len(cases), share / len(cases))
        throughput[f"{label}|{encoding}"] = _measure_throughput(
            label, size, encoding, rounds, seconds_per_run, report, piece
        )
    bombs = _measure_bombs(quick, report, (share, 1 - share))
    report(1.0, "done")
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    checks = _checks(throughput, bombs)
    markdown = _markdown(throughput, bombs, quick, cpus, (load_start, common.load_average()))
    figures = {"throughput": throughput, "bombs": bombs, "max_size": MAX_SIZE}
    return common.section("compression", TITLE, markdown, checks, figures, started)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _CHILD_FLAG:
        _bomb_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        sys.exit(0)
    common.main(run, __doc__)
