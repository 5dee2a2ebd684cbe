"""``make demo``: govdash on http://127.0.0.1:8000 with a seeded MLflow server.

On a fresh checkout this migrates the embedded SQLite database (or the one
``DATABASE_URL`` names), creates the demo users, starts and seeds a real
``mlflow server`` under ``.demo/mlflow``, starts an RQ worker when Redis answers
(otherwise jobs run inline), and serves the site. Ctrl-C or SIGTERM stops
everything it started. Children's output goes to ``.demo/logs/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
# The project is installed without packages (pyproject: packages = []), so put the
# checkout on the path the way manage.py sees it.
sys.path.insert(0, str(ROOT))

# Settings generate a development secret key only in DEBUG; children inherit this.
os.environ["GOVDASH_DEBUG"] = "true"
# Demo machines are often air-gapped: MLflow must not phone home.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ["PYTHONUNBUFFERED"] = "1"

import redis  # noqa: E402
import requests  # noqa: E402

from govdash.demo import credentials as credential_store  # noqa: E402
from govdash.demo.mlflow_server import MlflowServer, MlflowServerError, free_port  # noqa: E402

WEB_HOST = "127.0.0.1"
WEB_PORT = 8000
MLFLOW_PORT = 5000
DEMO_DIR = ROOT / ".demo"
LOG_DIR = DEMO_DIR / "logs"
MLFLOW_DIR = DEMO_DIR / "mlflow"
WORKER_QUEUES = ("default", "sync", "assess", "reports")
_TRUE = {"1", "true", "yes", "on"}


class DemoError(Exception):
    """Ends the demo with this one line and a non-zero exit."""


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop what was started and exit 0."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # The first signal starts the shutdown; later ones must not interrupt it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def say(line: str = "") -> None:
    print(line, flush=True)


def can_listen(port: int, host: str = WEB_HOST) -> bool:
    """Whether a server could listen on ``port`` now.

    SO_REUSEADDR, as runserver and uvicorn use, so that connections of a demo
    stopped a moment ago (TIME_WAIT) do not count as the port being taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _summary_lines(path: Path) -> list[str]:
    """The assess command's summary: its last line, after the state line it
    prints when nothing was pending."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return []
    return [line for line in lines if line.startswith(("nothing pending:", "assessed "))][-2:]


class Demo:
    def __init__(self) -> None:
        self.python = sys.executable
        self.mlflow: MlflowServer | None = None
        self.children: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.jobs = ""

    # --- steps -------------------------------------------------------------------

    def start(self) -> None:
        if not can_listen(WEB_PORT):
            raise DemoError(
                f"port {WEB_PORT} on {WEB_HOST} is already in use; stop what is using it "
                "and run `make demo` again"
            )
        DEMO_DIR.mkdir(mode=0o700, exist_ok=True)
        LOG_DIR.mkdir(exist_ok=True)

        say("govdash demo: migrating the database…")
        self.manage("migrate", "--no-input", log="migrate.log")
        say("govdash demo: creating the demo users…")
        # Captured, not logged: its output holds the passwords.
        self.manage("demo_users", log=None)

        self.signing_certificate()
        self.start_mlflow()
        self.start_jobs()

        self.sync()
        say("govdash demo: assessing the runs against the compliance policies…")
        self.manage("assess", "--wait", "--timeout", "600", log="assess.log")
        # The sync already queued assessment; a worker may have finished it first.
        for line in _summary_lines(LOG_DIR / "assess.log"):
            say(f"govdash demo: {line}")
        self.approvals()
        self.reports()

        self.start_web()
        self.banner()

    def signing_certificate(self) -> None:
        """A self-signed PKCS#12 bundle that signs the demo's reports (children
        inherit the two variables). Never for production."""
        if os.environ.get("GOVDASH_SIGNING_P12"):
            return
        bundle, secret = DEMO_DIR / "signing.p12", DEMO_DIR / "signing-password"
        if not (bundle.exists() and secret.exists()):
            from govdash.demo.signing import self_signed_p12

            password = secrets.token_urlsafe(18)
            self_signed_p12(bundle, password)
            secret.write_text(password)
            secret.chmod(0o600)
            say(f"govdash demo: made a self-signed report signing certificate ({bundle.name})")
        os.environ["GOVDASH_SIGNING_P12"] = str(bundle)
        os.environ["GOVDASH_SIGNING_P12_PASSWORD"] = secret.read_text().strip()

    def reports(self) -> None:
        """One report of each kind, the first time (rendered in the foreground)."""
        marker = DEMO_DIR / "reports" / ".made"
        if marker.exists():
            return
        marker.parent.mkdir(exist_ok=True)
        say("govdash demo: generating one report of each kind…")
        out = marker.parent
        self.manage(
            "report",
            "experiment",
            "--source",
            "demo",
            "--experiment",
            "fraud-detection/card-transactions",
            "--out",
            str(out / "experiment.pdf"),
            log="report-experiment.log",
        )
        self.manage(
            "report",
            "model-version",
            "--source",
            "demo",
            "--model",
            "fraud-card-xgb",
            "--version",
            "3",
            "--out",
            str(out / "dossier.pdf"),
            log="report-dossier.log",
        )
        self.manage("report", "audit", "--out", str(out / "audit.pdf"), log="report-audit.log")
        marker.touch()

    def sync(self) -> None:
        """Register the demo MLflow server as the source "demo" (synced every
        5 minutes when a scheduler runs) and sync it once now."""
        assert self.mlflow is not None
        listed = subprocess.run(
            [self.python, "manage.py", "sources", "list"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if not any(line.split("\t")[0] == "demo" for line in listed.stdout.splitlines()):
            self.manage(
                "sources",
                "add",
                "demo",
                "--url",
                self.mlflow.url,
                "--interval",
                "5",
                log="sources.log",
            )
        say("govdash demo: syncing the MLflow server into govdash…")
        self.manage("sync", "demo", log="sync.log")
        say(f"govdash demo: {_last_line(LOG_DIR / 'sync.log')}")

    def approvals(self) -> None:
        """Promotion requests in every state, then a move of a watched alias made on
        the MLflow server behind govdash's back, which the next sync flags."""
        assert self.mlflow is not None
        say("govdash demo: making promotion requests in every state…")
        self.manage("demo_approvals", log="approvals.log")
        say(f"govdash demo: {_last_line(LOG_DIR / 'approvals.log')}")
        from govdash.demo.seed import move_alias_out_of_band

        moved = move_alias_out_of_band(self.mlflow.url)
        if moved:
            say(f"govdash demo: moved {moved} on the MLflow server, outside govdash…")
            self.manage("sync", "demo", log="sync-after-move.log")

    def manage(self, *args: str, log: str | None) -> None:
        """Run a management command to completion; its failure ends the demo."""
        command = [self.python, "manage.py", *args]
        if log is None:
            captured = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            returncode = captured.returncode
            detail = (captured.stderr.strip().splitlines() or [""])[-1]
            where = ""
        else:
            log_path = LOG_DIR / log
            with log_path.open("w") as out:
                returncode = subprocess.run(
                    command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                ).returncode
            detail = _last_line(log_path)
            where = f" (full output in {log_path.relative_to(ROOT)})"
        if returncode != 0:
            raise DemoError(f"manage.py {args[0]} failed: {detail}{where}")

    def start_mlflow(self) -> None:
        port = MLFLOW_PORT if can_listen(MLFLOW_PORT) else free_port(WEB_HOST)
        say(f"govdash demo: starting MLflow on port {port} (takes a few seconds)…")
        self.mlflow = self._mlflow_server(port)
        # Imported here: importing mlflow takes seconds, and is only needed from now on.
        from mlflow.exceptions import MlflowException

        from govdash.demo.seed import DemoSeedError, seed_demo

        try:
            try:
                summary = seed_demo(self.mlflow.url)
            except DemoSeedError:
                # Only ever our own .demo/mlflow: an interrupted run left half a seed.
                say("govdash demo: the last seed did not finish; starting MLflow afresh…")
                self.mlflow.stop()
                shutil.rmtree(MLFLOW_DIR)
                self.mlflow = self._mlflow_server(port)
                summary = seed_demo(self.mlflow.url)
        except MlflowException as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise DemoError(f"seeding MLflow failed: {first}") from None
        verb = "seeded" if summary.created else "already seeded"
        say(
            f"govdash demo: MLflow {verb}: experiments={summary.experiments} "
            f"runs={summary.runs} models={summary.models} versions={summary.versions}"
        )
        os.environ["MLFLOW_TRACKING_URI"] = self.mlflow.url

    def _mlflow_server(self, port: int) -> MlflowServer:
        server = MlflowServer(MLFLOW_DIR, port=port, host=WEB_HOST)
        server.log_path = LOG_DIR / "mlflow-server.log"
        # The demo data names artifact stores on http(s) hosts (some compliant, some
        # not); MLflow refuses such locations unless the server is told to accept
        # them. Nothing is ever uploaded there, and only this server gets the setting.
        os.environ["MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES"] = "http,https"
        try:
            server.start()
        except MlflowServerError as exc:
            raise DemoError(str(exc)) from None
        finally:
            os.environ.pop("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES", None)
            self.mlflow = server  # so that shutdown stops it whatever happened
        return server

    def start_jobs(self) -> None:
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if os.environ.get("GOVDASH_JOBS_INLINE", "").strip().lower() in _TRUE:
            self.jobs = "inline (GOVDASH_JOBS_INLINE is set)"
            return
        if not redis_reachable(redis_url):
            say(f"govdash demo: Redis is not reachable at {redis_url}, so jobs run inline.")
            os.environ["GOVDASH_JOBS_INLINE"] = "true"
            self.jobs = "inline (no Redis)"
            return
        self.spawn("worker", "rqworker", *WORKER_QUEUES, log="worker.log")
        # The per-minute tick that queues scheduled syncs.
        self.spawn("scheduler", "scheduler", log="scheduler.log")
        self.jobs = f"RQ worker and scheduler on {redis_url} (queues: {', '.join(WORKER_QUEUES)})"

    def start_web(self) -> None:
        if not can_listen(WEB_PORT):
            raise DemoError(f"port {WEB_PORT} on {WEB_HOST} was taken while the demo started")
        web = self.spawn(
            "web server", "runserver", f"{WEB_HOST}:{WEB_PORT}", "--noreload", log="web.log"
        )
        url = f"http://{WEB_HOST}:{WEB_PORT}/accounts/login/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.check_children()
            try:
                requests.get(url, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.3)
        raise DemoError(f"the web server did not answer within 60s; see {web[1].relative_to(ROOT)}")

    def spawn(self, name: str, *args: str, log: str) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = LOG_DIR / log
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [self.python, "manage.py", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group: Ctrl-C reaches only us, and we stop it in order.
                start_new_session=True,
            )
        self.children[name] = (process, log_path)
        return process, log_path

    # --- running -----------------------------------------------------------------

    def banner(self) -> None:
        assert self.mlflow is not None
        rule = "=" * 72
        say()
        say(rule)
        say("  govdash demo is running")
        say()
        say(f"  govdash   http://{WEB_HOST}:{WEB_PORT}/")
        say(f"  MLflow    {self.mlflow.url}/")
        say(f"  jobs      {self.jobs}")
        say(f"  logs      {LOG_DIR.relative_to(ROOT)}/")
        say()
        creds = credential_store.load(credential_store.DEFAULT_PATH)
        rel = credential_store.DEFAULT_PATH.relative_to(ROOT)
        say(f"  Demo users (also in {rel}):")
        for line in credential_store.format_table(creds).splitlines():
            say(f"    {line}")
        say()
        say("  Press Ctrl-C to stop.")
        say(rule)

    def check_children(self) -> None:
        for name, (process, log_path) in self.children.items():
            code = process.poll()
            if code is not None:
                where = log_path.relative_to(ROOT)
                raise DemoError(f"the {name} exited unexpectedly (code {code}); see {where}")
        if self.mlflow is not None and self.mlflow.process is not None:
            code = self.mlflow.process.poll()
            if code is not None:
                raise DemoError(
                    f"the MLflow server exited unexpectedly (code {code}); "
                    f"see {self.mlflow.log_path.relative_to(ROOT)}"
                )

    def watch(self) -> None:
        while True:
            self.check_children()
            time.sleep(0.5)

    def shutdown(self) -> None:
        # The web server first, so nothing new arrives; MLflow last, as jobs may use it.
        for name in ("web server", "scheduler", "worker"):
            if name in self.children:
                _stop(self.children[name][0])
        if self.mlflow is not None:
            self.mlflow.stop()


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def main() -> int:
    os.chdir(ROOT)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    demo = Demo()
    code = 0
    try:
        demo.start()
        demo.watch()
    except Stop:
        say("\ngovdash demo: stopping…")
    except DemoError as exc:
        print(f"govdash demo: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.shutdown()
    if code == 0:
        say("govdash demo: stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
