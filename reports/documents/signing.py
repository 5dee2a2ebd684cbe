"""PAdES signatures with pyHanko, from the deployment's PKCS#12 bundle.

``GOVDASH_SIGNING_P12`` (a path) and ``GOVDASH_SIGNING_P12_PASSWORD``. The
certificate chain in the bundle is embedded in the signature, so whoever holds
the organisation's root can validate the PDF offline (pyHanko's validator or a
PDF reader). Without a bundle configured, reports are hashed but unsigned.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings


class SigningError(RuntimeError):
    """The configured certificate cannot sign (missing file, wrong password...)."""


def signing_configured() -> bool:
    return bool(settings.REPORT_SIGNING_P12)


def sign_pdf(pdf: bytes, *, reason: str) -> bytes:
    """The PDF with an incremental PAdES B-B signature appended."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    path = Path(settings.REPORT_SIGNING_P12)
    if not path.is_file():
        raise SigningError(f"GOVDASH_SIGNING_P12: no file at {path}")
    password = settings.REPORT_SIGNING_P12_PASSWORD
    try:  # opened here first for a one-line error (pyHanko logs a traceback)
        pkcs12.load_key_and_certificates(path.read_bytes(), password.encode() if password else None)
    except ValueError:
        raise SigningError(
            "GOVDASH_SIGNING_P12 could not be opened: wrong GOVDASH_SIGNING_P12_PASSWORD, "
            "or not a PKCS#12 file"
        ) from None
    signer = signers.SimpleSigner.load_pkcs12(
        pfx_file=str(path), passphrase=password.encode() if password else None
    )
    if signer is None:
        raise SigningError("GOVDASH_SIGNING_P12 could not be opened (wrong password?)")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name="govdash",
        reason=reason,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    out = signers.sign_pdf(writer, metadata, signer=signer)
    return out.getvalue()
