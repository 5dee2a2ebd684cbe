"""Run a real ``mlflow server`` on a loopback port.

Used by ``make demo``, the test suite and the benchmarks alike, so all three
talk to the same thing operators run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class MlflowServerError(RuntimeError):
    pass


class MlflowServer:
    """A ``mlflow server`` subprocess with a SQLite backend in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
        log_name: str = "mlflow-server.log",
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = extra_args
        self.log_path = self.workdir / log_name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def backend_uri(self) -> str:
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    def _command(self) -> list[str]:
        mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
        artifacts = self.workdir / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        return [
            mlflow,
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--default-artifact-root",
            artifacts.as_uri(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
            *self.extra_args,
        ]

    def start(self, *, timeout: float = 120.0) -> MlflowServer:
        if self.process is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # Never phone home from a test or an air-gapped demo.
        env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        env.setdefault("DO_NOT_TRACK", "true")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            start_new_session=True,  # so stop() can end its workers too
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MlflowServerError(
                    f"mlflow server exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise MlflowServerError(
            f"mlflow server did not answer within {timeout:.0f}s; see {self.log_path}"
        )

    def stop(self, *, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        except ProcessLookupError:
            pass

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
