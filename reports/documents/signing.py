"""PAdES signatures with pyHanko, from the deployment's PKCS#12 bundle.

``GOVDASH_SIGNING_P12`` (a path) and ``GOVDASH_SIGNING_P12_PASSWORD``. The
certificate chain in the bundle is embedded in the signature, so whoever holds
the organisation's root can validate the PDF offline (pyHanko's validator or a
PDF reader). Without a bundle configured, reports are hashed but unsigned.

With ``GOVDASH_REPORT_TSA_URL`` set, the signature also carries an RFC 3161
timestamp from that timestamp server (PAdES B-T), so the time of signing is
attested by a third party. A server that cannot be reached, or answers with
anything but a timestamp, fails the report with the reason: a deployment that
configured a timestamp server gets timestamped reports or none
(docs/operations.md, "Timestamps").
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from stat import S_ISREG
from typing import Any

from django.conf import settings


class SigningError(RuntimeError):
    """The configured certificate cannot sign (missing file, wrong password...)."""


class TimestampError(SigningError):
    """The configured timestamp server gave no timestamp."""


def signing_configured() -> bool:
    return bool(settings.REPORT_SIGNING_P12)


def timestamping_configured() -> bool:
    return signing_configured() and bool(settings.REPORT_TSA_URL)


def _signer() -> Any:
    """The configured bundle's signer, opened once per process and opened again
    when the file changes (a new certificate needs no restart): opening a
    PKCS#12 bundle derives its key from the password, about half a second of
    every report's signing."""
    path = Path(settings.REPORT_SIGNING_P12)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not S_ISREG(stat.st_mode):
        raise SigningError(f"GOVDASH_SIGNING_P12: no file at {path}")
    password = settings.REPORT_SIGNING_P12_PASSWORD or ""
    return _open_bundle(str(path), stat.st_mtime_ns, stat.st_size, password)


@functools.lru_cache(maxsize=4)
def _open_bundle(path: str, mtime_ns: int, size: int, password: str) -> Any:
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.sign import signers

    secret = password.encode() if password else None
    try:  # opened here first for a one-line error (pyHanko logs a traceback)
        pkcs12.load_key_and_certificates(Path(path).read_bytes(), secret)
    except ValueError:
        raise SigningError(
            "GOVDASH_SIGNING_P12 could not be opened: wrong GOVDASH_SIGNING_P12_PASSWORD, "
            "or not a PKCS#12 file"
        ) from None
    signer = signers.SimpleSigner.load_pkcs12(pfx_file=path, passphrase=secret)
    if signer is None:
        raise SigningError("GOVDASH_SIGNING_P12 could not be opened (wrong password?)")
    return signer


def sign_pdf(pdf: bytes, *, reason: str) -> bytes:
    """The PDF with an incremental PAdES signature appended: B-B, or B-T (with
    an RFC 3161 timestamp) when a timestamp server is configured."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = _signer()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name="govdash",
        reason=reason,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    if not timestamping_configured():
        return signers.sign_pdf(writer, metadata, signer=signer).getvalue()

    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    url = settings.REPORT_TSA_URL
    # pyHanko's HTTP timestamp client on requests (its aiohttp one needs an event loop's session).
    timestamper = RequestsHTTPTimeStamper(url, timeout=settings.REPORT_TSA_TIMEOUT_SECONDS)
    try:
        out = signers.sign_pdf(writer, metadata, signer=signer, timestamper=timestamper)
    except (TimestampRequestError, OSError, ValueError) as exc:
        cause = exc.__cause__ or exc
        raise TimestampError(
            f"the timestamp server GOVDASH_REPORT_TSA_URL={url} gave no timestamp: "
            f"{str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__}"
        ) from None
    return out.getvalue()
