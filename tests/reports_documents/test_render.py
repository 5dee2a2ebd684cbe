"""The renderer's fix to WeasyPrint's tagging: the page list is built once per
tagging, not once per structure element, and the PDF is the same to the byte."""

from __future__ import annotations

import io
import signal

import pydyf
import pytest
import weasyprint.pdf
import weasyprint.svg
from pypdf import PdfReader
from weasyprint import HTML

from reports.documents.fetcher import PackagedAssetFetcher
from reports.documents.render import (
    RenderError,
    _list_pages_once_while_tagging,
    _stopped,
    listing_pages_once,
    preload,
    render_in_process,
    render_pdf,
)

# Several pages of what reports are made of: headings, paragraphs, a long table
# with a repeated header, a list, an SVG figure and a link.
ROWS = "".join(
    f"<tr><td>run {i}</td><td class='mono'>{i:032x}</td><td>non-compliant</td></tr>"
    for i in range(400)
)
DOCUMENT = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>tagging</title><link rel="stylesheet" href="govdash-asset:report.css"></head><body>
<h1>Report</h1><p>Intro <strong>bold</strong> <a href="#appendix">to the appendix</a>.</p>
<ul><li>one</li><li>two</li></ul>
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><title>chart</title>
<rect width="10" height="10"/></svg>
<section class="appendix"><h2 id="appendix">Appendix</h2>
<table><thead><tr><th>Run</th><th>Run id</th><th>Verdict</th></tr></thead>
<tbody>{ROWS}</tbody></table></section></body></html>"""


@pytest.fixture(scope="module")
def document():  # type: ignore[no-untyped-def]
    _list_pages_once_while_tagging()
    return HTML(string=DOCUMENT, url_fetcher=PackagedAssetFetcher(), base_url=None).render()


def _count_page_lists(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    listing = pydyf.PDF.page_references

    def counted(self: pydyf.PDF) -> tuple[bytes, ...]:
        calls[0] += 1
        return listing.fget(self)  # type: ignore[no-any-return]

    monkeypatch.setattr(pydyf.PDF, "page_references", property(counted))
    return calls


def test_tagging_lists_the_pages_once_and_writes_the_same_pdf(document, monkeypatch):  # type: ignore[no-untyped-def]
    assert len(document.pages) >= 5
    wrapped = weasyprint.pdf.add_tags
    assert wrapped.lists_pages_once
    options = {"pdf_variant": "pdf/a-3b", "pdf_tags": True}

    calls = _count_page_lists(monkeypatch)
    document.write_pdf(pdf_variant="pdf/a-3b")
    untagged_calls = calls[0]

    calls[0] = 0
    fixed = document.write_pdf(**options)
    fixed_calls = calls[0]

    calls[0] = 0
    monkeypatch.setattr(weasyprint.pdf, "add_tags", wrapped.__wrapped__)
    upstream = document.write_pdf(**options)
    upstream_calls = calls[0]

    assert fixed == upstream
    # WeasyPrint's own tagging lists the pages for each structure element (well
    # over one per table cell); with the fix, once for tagging beside what the
    # untagged PDF needs (the link's destination).
    assert upstream_calls > 1200
    assert fixed_calls == untagged_calls + 1
    tree = PdfReader(io.BytesIO(fixed)).trailer["/Root"]["/StructTreeRoot"]
    assert tree["/K"][0].get_object()["/S"] == "/Document"


def test_installing_twice_wraps_once(document):  # type: ignore[no-untyped-def]
    before = weasyprint.pdf.add_tags
    _list_pages_once_while_tagging()
    assert weasyprint.pdf.add_tags is before
    assert not getattr(before.__wrapped__, "lists_pages_once", False)


def test_the_pdf_is_itself_again_after_tagging_even_when_it_fails():
    pdf = pydyf.PDF()
    for _ in range(3):
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    pages = pdf.page_references
    seen = []

    def tagging(pdf, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((type(pdf), pdf.page_references, args, kwargs))
        raise ValueError("tagging failed")

    with pytest.raises(ValueError, match="tagging failed"):
        listing_pages_once(tagging)(pdf, "document", pdf_version="1.7")
    [(during, listed, args, kwargs)] = seen
    assert during is not pydyf.PDF
    assert issubclass(during, pydyf.PDF)
    assert listed == pages
    assert (args, kwargs) == (("document",), {"pdf_version": "1.7"})
    assert type(pdf) is pydyf.PDF
    assert not hasattr(pdf, "listed")
    pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    assert len(pdf.page_references) == 4


def test_a_pdf_of_another_class_is_tagged_as_it_is():
    class Other(pydyf.PDF):  # type: ignore[misc]
        pass

    pdf = Other()
    seen = []
    listing_pages_once(lambda pdf: seen.append(type(pdf)))(pdf)
    assert seen == [Other]


def test_the_report_renderer_installs_it():
    rendered = render_in_process(DOCUMENT, [])
    assert weasyprint.pdf.add_tags.lists_pages_once
    assert rendered.pages >= 5


def _table(rows: int) -> str:
    cells = "".join(f"<tr><td>run {i}</td><td>{i:032x}</td></tr>" for i in range(rows))
    return f"<!doctype html><html lang='en'><title>t</title><table>{cells}</table></html>"


def test_the_memory_limit_is_a_budget_beyond_what_the_render_inherits():
    # Laying out 8,000 rows takes several hundred MB: refused at 10 MB beyond what
    # the child inherits (this test process, whose free heap the child may reuse
    # first); 600 rows render within 200.
    # Python's MemoryError or, when a C library is first to fail, its abort: both name the limit.
    with pytest.raises(RenderError, match=r"GOVDASH_REPORT_MEMORY_MB=10 allows"):
        render_pdf(_table(8000), [], timeout=300, memory_mb=10)
    assert render_pdf(_table(600), [], timeout=300, memory_mb=200).pages >= 10
    assert render_pdf(_table(600), [], timeout=300, memory_mb=0).pages >= 10


@pytest.mark.parametrize(
    ("exitcode", "memory_mb", "says"),
    [
        (
            -signal.SIGKILL,
            4096,
            "stopped by SIGKILL: the machine (or its container) ran out of memory, likely, "
            "or the process was killed",
        ),
        (
            -signal.SIGABRT,
            4096,
            "stopped by SIGABRT: it needed more memory than GOVDASH_REPORT_MEMORY_MB=4096 "
            "allows, likely",
        ),
        (-signal.SIGABRT, 0, "stopped by SIGABRT: it ran out of memory, likely"),
        (-signal.SIGSEGV, 4096, "the renderer was stopped by SIGSEGV"),
        (1, 4096, "the renderer stopped without an answer"),
        (None, 4096, "the renderer stopped without an answer"),
    ],
)
def test_a_renderer_that_died_is_reported_by_how(exitcode, memory_mb, says):  # type: ignore[no-untyped-def]
    assert _stopped(exitcode, memory_mb).endswith(says)


def test_a_renderer_killed_mid_render_fails_the_render_with_the_signal(monkeypatch):
    import os

    def killed(html, attachments):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGKILL)

    preload()  # warm here first: the warm-up render runs in this process
    monkeypatch.setattr("reports.documents.render.render_in_process", killed)
    with pytest.raises(RenderError, match="stopped by SIGKILL"):
        render_pdf(DOCUMENT, [], timeout=60)


def test_a_chart_weasyprint_could_not_draw_fails_the_render(monkeypatch):  # type: ignore[no-untyped-def]
    # WeasyPrint logs an SVG it cannot draw (out of memory, say) and goes on without it.
    def cannot(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError

    preload()
    monkeypatch.setattr(weasyprint.svg.SVG, "draw", cannot)
    with pytest.raises(
        RenderError, match="part of the report could not be drawn: Failed to render SVG"
    ):
        render_pdf(DOCUMENT, [], timeout=120)
    monkeypatch.undo()
    assert render_pdf(DOCUMENT, [], timeout=120).pages >= 5
