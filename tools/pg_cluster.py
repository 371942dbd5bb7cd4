#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests, benchmarks and demos.

    tools/pg_cluster.py start [--dir DIR]   # prints the folder, then the DSN, one per line
    tools/pg_cluster.py dsn DIR             # the DSN of a running cluster
    tools/pg_cluster.py restart DIR         # fast restart (sessions are terminated)
    tools/pg_cluster.py stop DIR            # stops the server and removes DIR

The cluster is Debian's PostgreSQL (``/usr/lib/postgresql/<version>/bin``): ``initdb`` into a
fresh folder, the Unix socket in that folder, TCP on 127.0.0.1 at a free port, ``fsync`` on (as
in production). PostgreSQL refuses to run as root: when run as root, the server runs as the
unprivileged user ``nobody`` (the folder is handed to it). Connections over the socket are
trusted; TCP connections need a password (``scram-sha-256``), which the role ``asap`` has:
``PASSWORD`` below. TLS is on, with a self-signed certificate for 127.0.0.1 made by openssl (a
dependency of Debian's postgresql): clients verify it with ``folder/root.crt``. Nothing here
reads or prints anything but the folder and the DSN.

Also importable: :class:`Cluster` (used by ``tests_py/_postgres.py`` and the benchmark).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["PASSWORD", "SUPERUSER", "Cluster", "postgres_bin"]

SUPERUSER = "asap"
# A test cluster's password for TCP connections (the socket needs none); never a real secret.
PASSWORD = "asap-test-password"
_STATE = "cluster.json"
_NOBODY = 65534


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (the newest installed version)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL server programs not found under /usr/lib/postgresql "
            "(apt-get install postgresql)"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throwaway cluster in ``folder``: data in ``folder/data``, the socket in ``folder``."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    # ---- lifecycle ----

    @classmethod
    def start(cls, folder: str | os.PathLike[str] | None = None) -> Cluster:
        """initdb, configure and start a new cluster; returns once it accepts connections."""
        root = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="asap_pg_"))
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(root, _free_port())
        cluster._as_owner_setup()
        password_file = root / "pwfile"
        password_file.write_text(PASSWORD + "\n")
        cluster._chown(password_file)
        cluster._run(
            str(postgres_bin() / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
            "--no-sync",  # initdb's own final sync only; the server runs with fsync on
        )
        password_file.unlink()
        # A self-signed certificate for TLS over TCP, made by the cluster's owner.
        cluster._run(
            "openssl",
            "req",
            "-new",
            "-x509",
            "-days",
            "7",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(cluster.data / "server.key"),
            "-out",
            str(cluster.data / "server.crt"),
        )
        shutil.copyfile(cluster.data / "server.crt", root / "root.crt")
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tools/pg_cluster.py\n"
                f"port = {cluster.port}\n"
                f"unix_socket_directories = '{root}'\n"
                "listen_addresses = '127.0.0.1'\n"
                "ssl = on\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_connections = 300\n"
                "shared_buffers = 128MB\n"
                "log_min_messages = warning\n"
            )
        (root / _STATE).write_text(json.dumps({"port": cluster.port}))
        cluster.pg_ctl("start", "-w", "-t", "60", "-l", str(root / "server.log"))
        return cluster

    @classmethod
    def attach(cls, folder: str | os.PathLike[str]) -> Cluster:
        """The cluster a previous start() left in ``folder``."""
        root = Path(folder)
        state = json.loads((root / _STATE).read_text())
        return cls(root, int(state["port"]))

    def restart(self, mode: str = "fast") -> None:
        """Restart the server (``mode`` fast: sessions are terminated; immediate: a crash)."""
        self.pg_ctl("restart", "-w", "-t", "60", "-m", mode, "-l", str(self.folder / "server.log"))

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping the folder (start_server() brings it back)."""
        self.pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def start_server(self) -> None:
        """Start a stopped server again."""
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.folder / "server.log"))

    def stop(self) -> None:
        """Stop the server and remove the folder."""
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self.pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- connecting ----

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def dsn(self, dbname: str = "postgres", **options: str) -> str:
        """A key=value DSN over the Unix socket (trusted: no password)."""
        parts = [
            f"host={self.folder}",
            f"port={self.port}",
            f"user={SUPERUSER}",
            f"dbname={dbname}",
        ]
        parts += [f"{key}={_quote(value)}" for key, value in options.items()]
        return " ".join(parts)

    @property
    def root_certificate(self) -> Path:
        """The certificate TLS clients verify the server with (sslrootcert)."""
        return self.folder / "root.crt"

    def url(self, dbname: str = "postgres", password: str | None = PASSWORD) -> str:
        """A postgresql:// URL over TCP to 127.0.0.1 (password authentication)."""
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres", **options: str) -> str:
        """Runs ``sql`` with psql over the socket; returns its unaligned, tuples-only output."""
        result = subprocess.run(
            [
                str(postgres_bin() / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn(dbname, **options),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=_plain_env(),
        )
        return result.stdout.strip()

    # ---- running as the cluster's owner ----

    def pg_ctl(self, *args: str) -> None:
        self._run(str(postgres_bin() / "pg_ctl"), "-D", str(self.data), *args)

    def _as_owner_setup(self) -> None:
        self._chown(self.folder)
        os.chmod(self.folder, 0o700)

    @staticmethod
    def _chown(path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, _NOBODY, _NOBODY)

    def _run(self, *command: str) -> None:
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            kwargs = {"user": _NOBODY, "group": _NOBODY, "extra_groups": []}
        result = subprocess.run(
            command,
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
            env={**_plain_env(), "LC_ALL": "C"},
            **kwargs,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, command, result.stdout, result.stderr
            )


def _plain_env() -> dict[str, str]:
    # PostgreSQL's programs are not ours: no sanitizer preloaded into them (make test-asan).
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def _quote(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wait_until_ready(cluster: Cluster, seconds: float = 30.0) -> None:
    """Waits until the server answers (after a restart done elsewhere)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cluster.psql("SELECT 1")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a new cluster; prints its folder and DSN")
    start.add_argument("--dir", help="folder for the cluster (default: a new temporary one)")
    for name in ("dsn", "restart", "stop"):
        sub.add_parser(name).add_argument("dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            cluster = Cluster.start(args.dir)
            print(cluster.folder)
            print(cluster.dsn())
        elif args.command == "dsn":
            print(Cluster.attach(args.dir).dsn())
        elif args.command == "restart":
            Cluster.attach(args.dir).restart()
        else:
            Cluster.attach(args.dir).stop()
    except subprocess.CalledProcessError as error:
        sys.stderr.write(f"{' '.join(map(str, error.cmd))} failed:\n{error.stdout}{error.stderr}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
