"""Many receipts at once: the renderer's settings, multi-process rendering, a folder of PDFs, an auditor's ZIP."""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
import shutil
import uuid
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from payments.receipts.render import DEFAULT_PLATFORM_NAME, cache_key, get_or_render, render_receipt_pdf
from payments.receipts.schemas import ReceiptFacts, facts_digest
from payments.receipts.signing import SealSigner, get_signer


@dataclass(frozen=True)
class ReceiptRenderer:
    """Where and how receipts are made; plain values, so it crosses into worker processes."""

    data_dir: Path
    base_url: str
    platform_name: str = DEFAULT_PLATFORM_NAME
    seal_cert_path: Path | None = None
    seal_key_path: Path | None = None

    @classmethod
    def from_settings(cls, settings) -> ReceiptRenderer:
        """From anything with the platform settings' attribute names (app.config.Settings)."""
        return cls(
            data_dir=Path(settings.data_dir),
            base_url=settings.base_url,
            platform_name=settings.platform_name,
            seal_cert_path=getattr(settings, "seal_cert_path", None),
            seal_key_path=getattr(settings, "seal_key_path", None),
        )

    @property
    def cache_dir(self) -> Path:
        return Path(self.data_dir) / "receipts" / "cache"

    def seal(self) -> SealSigner:
        return get_signer(self.data_dir, self.seal_cert_path, self.seal_key_path)

    def pdf_path(self, facts: ReceiptFacts) -> Path:
        """The cached signed PDF of these facts, rendered on first use."""
        return get_or_render(
            facts, self.cache_dir, base_url=self.base_url, seal=self.seal(), platform_name=self.platform_name
        )

    def cached_count(self, facts_list: Sequence[ReceiptFacts]) -> int:
        """How many of these receipts are rendered already (their PDFs in the cache): a ZIP build's progress."""
        seal = self.seal()
        return sum(
            (
                self.cache_dir
                / f"{cache_key(f, base_url=self.base_url, platform_name=self.platform_name, seal=seal)}.pdf"
            ).exists()
            for f in facts_list
        )

    def pdf_bytes(self, facts: ReceiptFacts) -> bytes:
        """A freshly rendered signed PDF, not cached."""
        return render_receipt_pdf(facts, base_url=self.base_url, seal=self.seal(), platform_name=self.platform_name)


def receipt_filename(facts: ReceiptFacts) -> str:
    return f"{facts.batch_id}-{facts.payment_id}-{facts.code}.pdf"


def _render_chunk(renderer: ReceiptRenderer, facts_json: list[str]) -> list[str]:
    return [str(renderer.pdf_path(ReceiptFacts.model_validate_json(item))) for item in facts_json]


def _pool_context():
    # forkserver: workers start from a clean, single-threaded process with WeasyPrint and pyHanko
    # already imported, never from a fork of a threaded (asyncio, arq) parent.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["payments.receipts.render", "payments.receipts.signing", "weasyprint"])
    return context


def render_many(facts_list: Sequence[ReceiptFacts], renderer: ReceiptRenderer, *, processes: int = 2) -> list[Path]:
    """Signed PDFs (cache paths, in input order) of many receipts, on `processes` worker processes."""
    if not facts_list:
        return []
    renderer.seal()  # create the demo key pair once, before the workers look for it
    if processes <= 1 or len(facts_list) < 4:
        return [renderer.pdf_path(facts) for facts in facts_list]
    # several chunks per process so a slow chunk does not leave a core idle at the end
    size = max(1, min(50, math.ceil(len(facts_list) / (processes * 4))))
    chunks = [[f.model_dump_json() for f in facts_list[i : i + size]] for i in range(0, len(facts_list), size)]
    with ProcessPoolExecutor(max_workers=processes, mp_context=_pool_context()) as pool:
        results = pool.map(_render_chunk, [renderer] * len(chunks), chunks)
        return [Path(p) for chunk in results for p in chunk]


def _place(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)  # same file system: no copy
    except OSError:
        shutil.copyfile(source, target)


def write_receipts(
    facts_list: Sequence[ReceiptFacts], out_dir: Path, *, renderer: ReceiptRenderer, processes: int = 2
) -> list[Path]:
    """One signed PDF per payment in out_dir, named <batch>-<payment_id>-<code>.pdf; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for facts, cached in zip(facts_list, render_many(facts_list, renderer, processes=processes)):
        target = out_dir / receipt_filename(facts)
        _place(cached, target)
        written.append(target)
    return written


def manifest_csv(facts_list: Sequence[ReceiptFacts]) -> str:
    """The ZIP's index for an auditor: one line per receipt, amounts with 2 decimals, no personal data."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "file",
            "code",
            "batch_id",
            "payment_id",
            "policy_code",
            "amount",
            "bank_transfer_id",
            "settled_at",
            "facts_sha256",
        ]
    )
    for facts in facts_list:
        writer.writerow(
            [
                receipt_filename(facts),
                facts.code,
                facts.batch_id,
                facts.payment_id,
                facts.policy_code,
                f"{facts.amount:.2f}",
                facts.bank_transfer_id,
                facts.settled_at.isoformat(),
                facts_digest(facts),
            ]
        )
    return buffer.getvalue()


def write_receipts_zip(
    facts_list: Sequence[ReceiptFacts], zip_path: Path, *, renderer: ReceiptRenderer, processes: int = 2
) -> Path:
    """A ZIP of the receipts' signed PDFs plus manifest.csv, written atomically to zip_path."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(f".{zip_path.name}.{uuid.uuid4().hex}.tmp")  # concurrent builds never share one
    cached = render_many(facts_list, renderer, processes=processes)
    # PDFs are already compressed: store them as they are
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for facts, path in zip(facts_list, cached):
            archive.write(path, receipt_filename(facts))
        archive.writestr("manifest.csv", manifest_csv(facts_list), compress_type=zipfile.ZIP_DEFLATED)
    os.replace(tmp, zip_path)
    return zip_path
