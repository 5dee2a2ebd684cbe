"""HTML to PDF/A-3b with WeasyPrint, in a child process, under a time limit.

The render runs in a forked child so that a time limit can stop it cleanly
wherever it is (WeasyPrint has no cancellation, and RQ's own timeout uses the
same alarm signal a worker thread would need). The child touches no database:
it gets the final HTML and the attachments, and sends back the PDF bytes, the
page count and the URLs the fetcher refused. Nothing is written anywhere until
the whole PDF exists, so a failed or stopped render leaves no file behind.

WeasyPrint (and pyHanko, for the signing step after it) are imported in the
parent before the fork (``preload``), once per worker process: a fresh child
then starts rendering at once instead of spending a second or two importing
them on every report.
"""

from __future__ import annotations

import io
import multiprocessing
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

PDF_VARIANT = "pdf/a-3b"


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


def preload() -> None:
    """Import the renderer and the signer now, so forked renders inherit them."""
    import pyhanko.sign.signers  # noqa: F401
    import weasyprint  # noqa: F401

    import reports.documents.fetcher  # noqa: F401


def render_in_process(html: str, attachments: list[AttachmentFile]) -> Rendered:
    """Render now, in this process (the child's work; also the benchmark's baseline)."""
    from weasyprint import HTML, Attachment

    from reports.documents.fetcher import PackagedAssetFetcher  # quiets WeasyPrint's logs first

    fetcher = PackagedAssetFetcher()
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
    return Rendered(
        pdf=pdf, pages=len(document.pages), refused=fetcher.refused, served=fetcher.served
    )


def _child(conn: Connection, html: str, attachments: list[AttachmentFile]) -> None:
    try:
        result = render_in_process(html, attachments)
        conn.send(("ok", result.pages, result.refused, result.served))
        conn.send_bytes(result.pdf)
    except BaseException as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        conn.send(("error", last[:500], [], []))
    finally:
        conn.close()


def render_pdf(html: str, attachments: list[AttachmentFile], *, timeout: float) -> Rendered:
    """Render in a child process; ``RenderError`` past ``timeout`` seconds or on failure."""
    preload()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, html, attachments), daemon=True)
    child.start()
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
    except EOFError:
        raise RenderError("rendering failed: the renderer stopped without an answer") from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5)
