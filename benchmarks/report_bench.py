"""PDF reports: a 1,000-run experiment's compliance report end to end
(queries, templates, WeasyPrint, signing, storage) against a bare WeasyPrint
render of the same final HTML; and a 5,000-run experiment's time, pages and
peak memory.

Targets (issue: PDF reports): end-to-end / bare render <= 1.3 for 1,000 runs,
measured in the same run on the same HTML; the whole report benchmark,
5,000-run experiment included, within 15 minutes (900 s). The machine's load
average is printed with every figure (a shared machine slows both sides of a
ratio, but not always alike).

The two sides alternate, five times each (end to end, bare, end to end,
bare..., each report a new one), and the best of each is kept: this
machine's speed drifts from one minute to the next (the same render of the
same HTML in a fresh process took 8.0 to 12.1 s, with the same hash seed),
which a single sample would read as govdash's cost or saving. The bare render
runs in a fresh process of its own, WeasyPrint alone (``bare_render``).
Both sides are timed in a warm worker: WeasyPrint and pyHanko already imported
and warmed (``render.preload``, which a report worker runs once before its
first job, govdash/worker.py); that one-time cost is printed apart. The PDF/A-3b + tags +
attachments render (what the format costs, as against what govdash adds) is
timed for 1,000 runs only, and the bare render too (the ratio's target is
for 1,000 runs; the 5,000-run report is timed end to end, with its pages and
peak memory), to keep the whole benchmark within its time. Beside wall time,
the CPU time of both sides (this process and its render child) is printed:
other work on a shared machine stretches wall time, not CPU time.

Runs in a child process on a fresh SQLite database of its own (one process,
no workers: nothing here contends for writes), reports stored in a temporary
directory and signed with a self-signed certificate made for the run.
``GOVDASH_BENCH_REPORT_SIZES`` (default ``1000,5000``) picks the sizes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import BenchmarkError, Target, load_average

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 5


def log(message: str) -> None:
    print(f"  {message}", flush=True)


def run() -> list[Target]:
    started = time.perf_counter()
    sizes = os.environ.get("GOVDASH_BENCH_REPORT_SIZES", "1000,5000")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GOVDASH_")},
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "GOVDASH_MEDIA_ROOT": f"{tmp}/media",
            "GOVDASH_DEBUG": "false",
            "GOVDASH_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "GOVDASH_HTTPS": "false",
            "GOVDASH_LOG_LEVEL": "WARNING",
            "GOVDASH_JOBS_INLINE": "true",
            "GOVDASH_REPORT_TIMEOUT_SECONDS": "1800",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.report_bench", "--child", str(out), sizes],
            cwd=REPO,
            env=env,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise BenchmarkError(f"the report benchmark child failed ({completed.returncode})")
        results = json.loads(out.read_text())
    targets = []
    preload = results[0]["preload"] if results else 0.0
    log(f"one-time import of WeasyPrint and pyHanko in a worker: {preload:.2f}s")
    for result in results:
        runs = result["runs"]
        log(
            f"{runs} runs: end to end {result['end_to_end']:.2f}s "
            f"(CPU {result['end_to_end_cpu']:.2f}s; content and HTML {result['content']:.2f}s), "
            f"{result['pages']} pages ({result['pages'] / result['end_to_end']:.1f} pages/s), "
            f"{result['size'] / 1e6:.2f} MB, signed {result['signed']}, peak memory: renderer "
            f"{result['render_rss_mb']:.0f} MB, main process {result['main_rss_mb']:.0f} MB; "
            f"{result['load']}"
        )
        if result["bare"] is None:
            continue
        ratio = result["end_to_end"] / result["bare"]
        log(
            f"{runs} runs: best of {len(result['samples'])} alternating rounds: end to end "
            f"{' / '.join(f'{x:.2f}' for x in result['samples'])}s, bare "
            f"{' / '.join(f'{x:.2f}' for x in result['bare_samples'])}s"
        )
        log(
            f"{runs} runs: bare WeasyPrint {result['bare']:.2f}s (CPU {result['bare_cpu']:.2f}s); "
            f"end to end / bare render = {ratio:.2f} "
            f"(CPU: {result['end_to_end_cpu'] / result['bare_cpu']:.2f}); {result['bare_load']}"
        )
        formatted = result.get("formatted")
        if formatted:
            log(
                f"{runs} runs: PDF/A-3b + tags + attachments render {formatted:.2f}s "
                f"(/ bare = {formatted / result['bare']:.2f}); end to end / that render = "
                f"{result['end_to_end'] / formatted:.2f} (what govdash adds)"
            )
        if runs == 1000:
            targets.append(Target("report 1,000 runs: end-to-end / bare WeasyPrint", ratio, 1.3))
    whole = time.perf_counter() - started
    log(f"whole report benchmark: {whole:.0f}s ({sizes} runs); {load_average()}")
    if "5000" in sizes.split(","):
        targets.append(Target("report benchmark incl. 5,000 runs: whole, seconds", whole, 900))
    return targets


# --------------------------------------------------------------------------- child


def _seed(runs: int, version: object) -> str:
    from reports.services import assess_runs
    from tracking.models import Experiment, Run, Source

    source, _ = Source.objects.get_or_create(name="bench", defaults={"url": "http://127.0.0.1:9"})
    name = f"bench-{runs}"
    experiment = Experiment.objects.create(
        source=source,
        experiment_id=name,
        name=name,
        artifact_location="s3://bench",
        tags={"department": "risk"},
        content_hash=name.rjust(64, "0"),
    )
    now = dt.datetime.now(dt.UTC)
    classes = ["public", "official", "secret", "Secret ", "top-secret", ""]
    rows = [
        Run(
            source=source,
            experiment=experiment,
            run_id=f"{runs:08x}{index:024x}",
            run_name=f"run {index}",
            status="FINISHED",
            start_time=now - dt.timedelta(days=index % 1500),
            end_time=now - dt.timedelta(days=index % 1500) + dt.timedelta(hours=1),
            user_id="" if index % 11 == 0 else f"user{index % 7}",
            artifact_uri=f"s3://bench/{index}/artifacts" if index % 4 else f"http://x/{index}",
            params={f"p{k}": str(index * k) for k in range(5)},
            tags={"classification": classes[index % len(classes)]},
            metrics={"loss": {"value": 1 / (index + 1), "step": 9, "timestamp": 1}},
            classification=classes[index % len(classes)],
            content_hash=f"{runs:08x}{index:056x}",
            facts_hash=f"{runs:08x}{index:056x}",
        )
        for index in range(runs)
    ]
    Run.objects.bulk_create(rows, batch_size=2000)
    assess_runs(
        run_ids=list(experiment.runs.values_list("pk", flat=True)),
        version=version,  # type: ignore[arg-type]
    )
    return name


def _max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (the render child)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


BARE_RENDERS = 1


def bare_render(html: str, *, attachments: dict[str, bytes] | None = None) -> tuple[float, float]:
    """WeasyPrint alone on ``html``: in a fresh process holding nothing else
    (this one holds Django, the seeded runs and every earlier render's leftovers,
    which slowed a render here by a quarter and more), rendered ``BARE_RENDERS``
    times after the imports; the best render's (wall, CPU) seconds. With
    ``attachments`` (name -> content), the render govdash asks for: PDF/A-3b,
    tagged, the files attached (``render_in_process``)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(html)
        for name, content in (attachments or {}).items():
            (Path(tmp) / name).write_bytes(content)
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.report_bench",
                "--bare",
                str(source),
                ",".join(attachments or {}),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        raise BenchmarkError(f"the bare render failed: {completed.stderr[-2000:]}")
    seconds, cpu = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(seconds), float(cpu)


def _bare_child(source: Path, attached: str) -> None:
    from weasyprint import HTML

    from reports.documents.fetcher import PackagedAssetFetcher
    from reports.documents.render import AttachmentFile, render_in_process

    html = source.read_text()
    files = [
        AttachmentFile(name, (source.parent / name).read_bytes(), name)
        for name in attached.split(",")
        if name
    ]
    renders = []
    for _ in range(BARE_RENDERS):
        started, cpu = time.perf_counter(), _cpu_seconds()
        if files:
            render_in_process(html, files)
        else:
            HTML(string=html, url_fetcher=PackagedAssetFetcher()).write_pdf()
        renders.append((time.perf_counter() - started, _cpu_seconds() - cpu))
    print(json.dumps(min(renders)))


def child(out: Path, sizes: list[int]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govdash.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from govdash.demo.signing import self_signed_p12
    from reports.documents.content import build_content, evidence_sha256
    from reports.documents.generate import generate_report, report_html
    from reports.documents.render import preload
    from reports.documents.services import report_request
    from reports.models import Policy

    call_command("migrate", verbosity=0)
    bundle = Path(settings.MEDIA_ROOT) / "signer.p12"
    password = secrets.token_urlsafe(12)
    self_signed_p12(bundle, password)
    settings.REPORT_SIGNING_P12 = str(bundle)
    settings.REPORT_SIGNING_P12_PASSWORD = password
    version = Policy.objects.get(slug="default").current_version()
    started = time.perf_counter()
    preload()
    preload_seconds = time.perf_counter() - started
    results = []
    for runs in sizes:
        log(f"seeding and assessing {runs} runs…")
        name = _seed(runs, version)

        def end_to_end_once(name: str = name) -> tuple[float, float, Any]:
            report = report_request(
                kind="experiment", parameters={"source": "bench", "experiment": name}
            )
            started, cpu = time.perf_counter(), _cpu_seconds()
            report = generate_report(report)
            seconds, cpu_seconds = time.perf_counter() - started, _cpu_seconds() - cpu
            if report.status != "done":
                raise BenchmarkError(f"the report failed: {report.error}")
            return seconds, cpu_seconds, report

        def bare_once(html: str) -> tuple[float, float]:
            return bare_render(html)

        # The ratio's sides alternate, ROUNDS times each, and the best of each is kept:
        # this machine's speed drifts by a quarter from one minute to the next (the
        # same render took 21 s and 28 s in two runs), which one sample each would
        # read as govdash's cost or saving.
        rounds = ROUNDS if runs <= 1000 else 1
        samples: list[tuple[float, float]] = []
        bare_samples: list[tuple[float, float]] = []
        html = ""
        for round_number in range(1, rounds + 1):
            log(f"{runs} runs: generating the report end to end (round {round_number})…")
            end_to_end, end_to_end_cpu, report = end_to_end_once()
            samples.append((end_to_end, end_to_end_cpu))
            load = load_average()
            log(f"{runs} runs: end to end {end_to_end:.2f}s, {report.pages} pages; {load}")
            if not html:
                render_rss = _max_rss_mb(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                content = build_content(report)
                html = report_html(
                    report, content, evidence_sha256=evidence_sha256(content), generated_at="now"
                )
                content_seconds = time.perf_counter() - started
            if runs <= 1000:
                log(f"{runs} runs: bare WeasyPrint render of the same HTML (round {round_number})…")
                bare_samples.append(bare_once(html))
                log(f"{runs} runs: bare {bare_samples[-1][0]:.2f}s; {load_average()}")
        end_to_end, end_to_end_cpu = min(samples)
        bare = bare_cpu = formatted = None
        bare_load = ""
        if bare_samples:
            bare, bare_cpu = min(bare_samples)
            bare_load = load_average()

        # The same HTML with the output the issue requires (PDF/A-3b, tagged, the two
        # attachments), without govdash's queries, templates, signing or storage:
        # what the format costs, as against what govdash adds.
        if runs <= 1000:
            log(f"{runs} runs: WeasyPrint render with PDF/A-3b, tags and attachments…")
            attachments = {
                "evidence.json": content.evidence_bytes(),
                "findings.csv": content.csv_bytes(),
            }
            formatted, _ = bare_render(html, attachments=attachments)
        results.append(
            {
                "runs": runs,
                "end_to_end": end_to_end,
                "end_to_end_cpu": end_to_end_cpu,
                "content": content_seconds,
                "bare": bare,
                "bare_cpu": bare_cpu,
                "bare_load": bare_load,
                "formatted": formatted,
                "pages": report.pages,
                "size": report.size,
                "signed": report.signed,
                "render_rss_mb": render_rss,
                "main_rss_mb": _max_rss_mb(resource.RUSAGE_SELF),
                "preload": preload_seconds,
                "load": load,
                "samples": [sample for sample, _ in samples],
                "bare_samples": [sample for sample, _ in bare_samples],
            }
        )
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        _bare_child(Path(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), [int(size) for size in sys.argv[3].split(",")])
    else:
        print("run with `python -m benchmarks -k report`", file=sys.stderr)
        sys.exit(2)
