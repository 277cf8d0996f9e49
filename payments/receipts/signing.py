"""The receipt seal's signing identity: a demo EC P-256 key and self-signed certificate, or a configured one."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec

SIGNATURE_FIELD = "ZhidaReceiptSeal"
DEMO_KEY_NAME = "demo-seal-key.pem"
DEMO_CERT_NAME = "demo-seal-cert.pem"
DEMO_SUBJECT = "Zhida 回单专用章（演示，非真实电子印章）"  # a demo certificate: a reader sees it is one
# A self-signed EC certificate and its CMS fit well within this; a configured chain gets pyHanko's estimate.
_DEMO_BYTES_RESERVED = 6144


@dataclass(frozen=True)
class SealSigner:
    """A loaded signer with the certificate verification should trust."""

    signer: signers.SimpleSigner
    certificate: asn1_x509.Certificate
    bytes_reserved: int | None

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly


_cache: dict[tuple, SealSigner] = {}
_cache_lock = threading.Lock()


def signing_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "receipts" / "signing"


def _generate_demo_pair(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zhida 政策直达（演示）"),
            x509.NameAttribute(NameOID.COMMON_NAME, DEMO_SUBJECT),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
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
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # key first, then certificate, each written whole and renamed into place
    for filename, content, mode in (
        (DEMO_KEY_NAME, key_pem, 0o600),
        (DEMO_CERT_NAME, cert.public_bytes(serialization.Encoding.PEM), 0o644),
    ):
        tmp = directory / (filename + f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, directory / filename)


def ensure_demo_signer(data_dir: Path) -> SealSigner:
    """The demo seal of this data directory, generating its key pair and certificate on first use."""
    directory = signing_dir(data_dir)
    key_path, cert_path = directory / DEMO_KEY_NAME, directory / DEMO_CERT_NAME
    cache_key = ("demo", str(directory.resolve()))
    with _cache_lock:
        if cache_key in _cache:
            return _cache[cache_key]
        directory.mkdir(parents=True, exist_ok=True)
        # several render processes may start at once: one generates, the others wait and load
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (key_path.exists() and cert_path.exists()):
                _generate_demo_pair(directory)
        seal = SealSigner(
            signers.SimpleSigner.load(str(key_path), str(cert_path)), _load_cert(cert_path), _DEMO_BYTES_RESERVED
        )
        _cache[cache_key] = seal
        return seal


def load_signer(cert_path: Path, key_path: Path, passphrase: bytes | None = None) -> SealSigner:
    """A configured (real) e-seal certificate and key, PEM or DER; loaded once per process."""
    cache_key = ("configured", str(Path(cert_path).resolve()), str(Path(key_path).resolve()))
    with _cache_lock:
        if cache_key not in _cache:
            signer = signers.SimpleSigner.load(str(key_path), str(cert_path), key_passphrase=passphrase)
            if signer is None:
                raise ValueError(f"could not load the seal key {key_path} and certificate {cert_path}")
            _cache[cache_key] = SealSigner(signer, signer.signing_cert, None)
        return _cache[cache_key]


def get_signer(data_dir: Path, cert_path: Path | None = None, key_path: Path | None = None) -> SealSigner:
    """The configured seal when both paths are given, else the data directory's demo seal."""
    if cert_path and key_path:
        return load_signer(cert_path, key_path)
    return ensure_demo_signer(data_dir)


def _load_cert(path: Path) -> asn1_x509.Certificate:
    from pyhanko.keys import load_cert_from_pemder

    return load_cert_from_pemder(str(path))


T = TypeVar("T")


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run pyHanko's coroutine to completion from sync code, also when the caller's thread runs an event loop
    (a CLI command or job that calls the sync API): then on a short-lived thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def sign_pdf_bytes(pdf: bytes, seal: SealSigner, *, reason: str, location: str, name: str | None = None) -> bytes:
    """Append one approval signature covering the whole document."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, reason=reason, location=location, name=name, md_algorithm="sha256"
    )
    out = run_blocking(
        lambda: signers.async_sign_pdf(
            writer,
            meta,
            signer=seal.signer,
            bytes_reserved=seal.bytes_reserved,
            new_field_spec=SigFieldSpec(SIGNATURE_FIELD),
        )
    )
    return out.getvalue()
