"""HTML to PDF/A-3b with WeasyPrint, in a child process, under a time limit.

The render runs in a forked child so that a time limit can stop it cleanly
wherever it is (WeasyPrint has no cancellation, and RQ's own timeout uses the
same alarm signal a worker thread would need). The child touches no database:
it gets the final HTML and the attachments, and sends back the PDF bytes, the
page count and the URLs the fetcher refused. Nothing is written anywhere until
the whole PDF exists, so a failed or stopped render leaves no file behind.

WeasyPrint (and pyHanko, for the signing step after it) are imported and
warmed in the parent before the fork (``preload``), once per worker process
(govdash/worker.py calls it before a report worker's first job, so RQ's work
horses inherit it): a fresh child then starts rendering at once instead of
spending a second or two importing them on every report.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import logging
import multiprocessing
import resource
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

PDF_VARIANT = "pdf/a-3b"
# What a report is made of (the report stylesheet, its faces: headings, bold, the
# monospaced ids, tables, a chart's text), on one page: rendering it once per
# process loads and caches the fonts every report then finds ready.
WARM_UP_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>warm-up</title><link rel="stylesheet" href="govdash-asset:report.css"></head><body>
<h1>govdash</h1><h2>Findings</h2><h3>Rule</h3><p>Text <strong>bold</strong> <em>it</em></p>
<table><thead><tr><th>Run</th><th>Run id</th></tr></thead><tbody><tr><td>run 1<br>
<span class="muted">x</span></td><td class="mono">0123456789abcdef</td><td class="num">1</td>
</tr></tbody></table><svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"
font-family="Source Sans Pro Web, Helvetica Neue, Helvetica, Roboto, Arial, sans-serif">
<text x="1" y="12" font-weight="700">1</text></svg></body></html>"""


def _out_of_memory(memory_mb: int) -> str:
    return (
        f"it needed more memory than GOVDASH_REPORT_MEMORY_MB={memory_mb} allows"
        if memory_mb > 0
        else "it ran out of memory"
    )


def _stopped(exitcode: int | None, memory_mb: int) -> str:
    """Why the render child ended without an answer, as far as its exit says."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        # A C library that cannot allocate within the limit aborts (GLib's
        # g_malloc); the kernel's (or a container's) out-of-memory killer, which
        # knows nothing of the limit, sends SIGKILL.
        if -exitcode == signal.SIGABRT:
            return f"the renderer was stopped by {name}: {_out_of_memory(memory_mb)}, likely"
        if -exitcode == signal.SIGKILL:
            return (
                f"the renderer was stopped by {name}: the machine (or its container) ran "
                "out of memory, likely, or the process was killed"
            )
        return f"the renderer was stopped by {name}"
    return "the renderer stopped without an answer"


class RenderError(RuntimeError):
    """The render failed or ran out of time; the message says why in one line."""


@dataclass(frozen=True)
class AttachmentFile:
    name: str
    content: bytes
    description: str
    mime_type: str = "application/octet-stream"


@dataclass
class Rendered:
    pdf: bytes
    pages: int
    refused: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)


_warm = False


def preload() -> None:
    """Import the renderer and the signer now, so forked renders inherit them;
    the first time in a process, also render and sign a one-page document in
    the report stylesheet, so that the first report finds WeasyPrint's and
    pyHanko's lazily loaded parts (fonts, signature code, the opened
    certificate bundle) ready: without it, each forked render paid 1 to 2
    seconds for them (5% of a 1,000-run report). A failure here is left to
    the report's own render or signing, which reports it."""
    global _warm
    import pyhanko.sign.signers  # noqa: F401
    import weasyprint  # noqa: F401

    import reports.documents.fetcher  # noqa: F401

    if _warm:
        return
    _warm = True
    from reports.documents.signing import sign_pdf, signing_configured

    with contextlib.suppress(Exception):  # the report's own steps report it
        rendered = render_in_process(
            WARM_UP_HTML, [AttachmentFile("warm-up.json", b"{}", "warm-up")]
        )
        if signing_configured():
            sign_pdf(rendered.pdf, reason="warm-up")


def _list_pages_once_while_tagging() -> None:
    """Make WeasyPrint's tagging of a long report linear in its pages again.

    ``weasyprint.pdf.tags.add_tags`` reads ``pdf.page_references[n]`` for every
    structure element it makes (one per cell, paragraph and run of text), and
    pydyf's ``PDF.page_references`` builds the tuple of every page's reference
    anew on each read: tagging a report costs elements x pages. Every page is
    added before tagging starts and tagging adds none, so while it runs the
    tuple is built once. The output is the same to the byte
    (tests/reports_documents/test_render.py); docs/architecture.md ("PDF
    reports") gives the figures. Installed once per process, around
    ``add_tags`` only: WeasyPrint (``weasyprint>=66,<71``) and pydyf are
    otherwise untouched.
    """
    import weasyprint.pdf

    if not getattr(weasyprint.pdf.add_tags, "lists_pages_once", False):
        weasyprint.pdf.add_tags = listing_pages_once(weasyprint.pdf.add_tags)


def listing_pages_once(add_tags: Callable[..., Any]) -> Callable[..., Any]:
    """``add_tags`` with the pydyf PDF's pages listed once for the whole call:
    the PDF's class is swapped, for that time only, for a subclass that answers
    ``page_references`` with the list made before the call."""
    import pydyf

    class PagesListedOnce(pydyf.PDF):  # type: ignore[misc]
        listed: tuple[bytes, ...]

        @property
        def page_references(self) -> tuple[bytes, ...]:
            return self.listed

    @functools.wraps(add_tags)
    def tagging(pdf: Any, *args: Any, **kwargs: Any) -> Any:
        if type(pdf) is not pydyf.PDF:
            return add_tags(pdf, *args, **kwargs)
        pdf.listed = pdf.page_references
        pdf.__class__ = PagesListedOnce
        try:
            return add_tags(pdf, *args, **kwargs)
        finally:
            pdf.__class__ = pydyf.PDF
            del pdf.listed

    tagging.lists_pages_once = True  # type: ignore[attr-defined]
    return tagging


def render_in_process(html: str, attachments: list[AttachmentFile]) -> Rendered:
    """Render now, in this process (the child's work; also the benchmark's baseline)."""
    from reports.documents.fetcher import PackagedAssetFetcher  # quiets WeasyPrint's logs first

    _list_pages_once_while_tagging()
    fetcher = PackagedAssetFetcher()
    dropped = _Dropped()
    weasyprint_log = logging.getLogger("weasyprint")
    weasyprint_log.addHandler(dropped)
    try:
        pdf, pages = _write(html, attachments, fetcher)
    finally:
        weasyprint_log.removeHandler(dropped)
    if dropped.what:
        raise RenderError(f"part of the report could not be drawn: {dropped.what[0]}")
    return Rendered(pdf=pdf, pages=pages, refused=fetcher.refused, served=fetcher.served)


class _Dropped(logging.Handler):
    """What WeasyPrint could not draw and went on without: an SVG chart that
    failed to load or draw (for lack of memory, say) is logged and left out.
    A report without one of its charts is not the report, so the render fails."""

    DROPPED = ("Failed to render SVG image", "Failed to load inline SVG")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.what: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith(self.DROPPED):
            self.what.append(record.getMessage()[:300])


def _write(html: str, attachments: list[AttachmentFile], fetcher: Any) -> tuple[bytes, int]:
    from weasyprint import HTML, Attachment

    document = HTML(string=html, url_fetcher=fetcher, base_url=None).render()
    files = [
        Attachment(
            file_obj=io.BytesIO(item.content),
            name=item.name,
            description=item.description,
            relationship="Data",
            url_fetcher=fetcher,
        )
        for item in attachments
    ]
    pdf = document.write_pdf(
        pdf_variant=PDF_VARIANT, pdf_tags=True, attachments=files, uncompressed_pdf=False
    )
    return pdf, len(document.pages)


def _data_bytes() -> int | None:
    """This process's data memory now (what ``RLIMIT_DATA`` counts), in bytes;
    None where the system does not say (no Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _limit_memory(memory_mb: int) -> None:
    """Let this (the render child) take at most ``memory_mb`` MB beyond what it
    inherited: past it, an allocation fails, and the render with it. Linux
    only (elsewhere the render is limited by the machine alone)."""
    inherited = _data_bytes() if memory_mb > 0 else None
    if inherited is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = inherited + memory_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _ran_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a failed allocation."""
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return False
        if isinstance(seen, MemoryError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _child(conn: Connection, html: str, attachments: list[AttachmentFile], memory_mb: int) -> None:
    # Made before the limit: past it, even making this message could fail.
    out_of_memory = _out_of_memory(memory_mb)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    failure: str | None = None
    result = None
    try:
        _limit_memory(memory_mb)
        result = render_in_process(html, attachments)
    except BaseException as exc:
        failure = out_of_memory
        try:
            # First, room to say what happened (the limit lifted).
            resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
            if not _ran_out_of_memory(exc):
                failure = traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]
        except BaseException:  # noqa: S110 (out_of_memory is the answer then)
            pass
    # Answered outside the handler: the failed render's frames (and the memory
    # they hold) are released with the exception.
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
        if result is not None:
            conn.send(("ok", result.pages, result.refused, result.served))
            conn.send_bytes(result.pdf)
        else:
            conn.send(("error", failure, [], []))
    finally:
        conn.close()


def render_pdf(
    html: str, attachments: list[AttachmentFile], *, timeout: float, memory_mb: int = 0
) -> Rendered:
    """Render in a child process; ``RenderError`` past ``timeout`` seconds, past
    ``memory_mb`` MB of memory (0: no limit but the machine's), or on failure."""
    preload()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, html, attachments, memory_mb), daemon=True)
    # The child's collector leaves the parent's objects alone (they are frozen for
    # it): without this, each of its full collections walks, and so copies, the
    # whole inherited heap (the Python documentation's advice for fork without exec).
    gc.freeze()
    try:
        child.start()
    finally:
        gc.unfreeze()
    send.close()
    try:
        if not receive.poll(timeout):
            raise RenderError(f"rendering took longer than the limit of {timeout:g} s")
        message: Any = receive.recv()
        status, detail, refused, served = message
        if status != "ok":
            raise RenderError(f"rendering failed: {detail}")
        pdf = receive.recv_bytes()
        return Rendered(pdf=pdf, pages=int(detail), refused=list(refused), served=list(served))
    except (EOFError, OSError):  # OSError: the child died in the middle of the PDF
        child.join(5)
        raise RenderError(f"rendering failed: {_stopped(child.exitcode, memory_mb)}") from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5)
