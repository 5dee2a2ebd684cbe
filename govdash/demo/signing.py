"""A self-signed PKCS#12 bundle for signing demo reports (and the tests).

Never for production: a deployment signs with a certificate its organisation
issued, so that anyone holding the organisation's root can validate offline.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def self_signed_p12(path: Path, password: str, *, name: str = "govdash demo signer") -> bytes:
    """Write a new key and self-signed certificate to ``path``; returns the
    certificate (DER), which is its own trust root."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govdash demo"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        certificate,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bundle)
    path.chmod(0o600)
    return certificate.public_bytes(serialization.Encoding.DER)
