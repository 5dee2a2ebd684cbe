"""Components a test may break: a private redis-server, a tracking server that
hangs, worker processes to SIGKILL. Never the shared Redis or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own, on a free port, without persistence:
    killed, it comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()
        assert redis.Redis(port=self.port).dbsize() == 0


class HangingServer:
    """An HTTP server that accepts connections and answers nothing until
    ``release()``; from then on it closes every connection at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.released = threading.Event()
        self.held: list[socket.socket] = []
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.set()
            if self.released.is_set():
                conn.close()
            else:
                self.held.append(conn)

    def release(self) -> None:
        self.released.set()
        for conn in self.held:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.release()
        self.sock.close()


# The production recipe (README.md, "Running it in production"; the unit files
# in docs/operations.md, Supervision): the fault tests start every worker and
# the scheduler with exactly these command lines, and test_recipe.py holds the
# README, the unit files and `make demo` to them. Workers run without
# --with-scheduler: retries go through the maintenance tick.
WORKER_COMMAND = ("manage.py", "rqworker", "default", "sync", "assess", "reports")
SCHEDULER_COMMAND = ("manage.py", "scheduler")
# The one flag a test adds: a burst worker stops once the queues are empty.
BURST = "--burst"


def worker(env: dict[str, str], *, burst: bool = True) -> subprocess.Popen[bytes]:
    """``WORKER_COMMAND``, in a session of its own (``kill_tree`` kills it and
    its work horse together, as a dying machine would)."""
    args = [sys.executable, *WORKER_COMMAND] + ([BURST] if burst else [])
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_worker(env: dict[str, str]) -> None:
    """One burst worker, to the end of the queued work."""
    process = worker(env)
    assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-3000:]  # type: ignore[union-attr]


def scheduler(env: dict[str, str], *, stderr: IO[str]) -> subprocess.Popen[bytes]:
    """``SCHEDULER_COMMAND``, as the README runs it (exactly one)."""
    return subprocess.Popen(
        [sys.executable, *SCHEDULER_COMMAND],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every process under it, as a dying machine would."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    for child in children:
        kill_tree(child)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_for(condition, *, timeout: float = 120, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.1)
