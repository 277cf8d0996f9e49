"""Bulk rendering of a settled batch: the render job over receipt codes, and `batch receipts`' writer."""

from __future__ import annotations

from types import SimpleNamespace

from payments.receipt_tasks import functions, render_receipts_chunk
from payments.receipts.bulk import ReceiptRenderer
from payments.receipts.schemas import facts_digest
from payments.receipts.verify import async_verify_receipt_pdf
from payments.service.receipts import write_batch_receipts


def _settings(data_dir):
    return SimpleNamespace(
        data_dir=data_dir,
        base_url="https://zhida.example.gov.cn",
        platform_name="政策直达平台 Zhida",
        seal_cert_path=None,
        seal_key_path=None,
    )


async def test_render_job_renders_and_caches_each_code(settled_batch, tmp_dir):
    from payments.service import receipts_of_batch

    codes = [f.code for f in await receipts_of_batch(settled_batch)]
    ctx = {"settings": _settings(tmp_dir)}
    result = await render_receipts_chunk(ctx, codes + ["0000000000000000"])
    assert result == {"rendered": 3, "missing": ["0000000000000000"]}
    cached = sorted((tmp_dir / "receipts" / "cache").glob("*.pdf"))
    assert len(cached) == 3
    again = await render_receipts_chunk(ctx, codes)
    assert again["rendered"] == 3
    assert sorted((tmp_dir / "receipts" / "cache").glob("*.pdf")) == cached


def test_job_is_registered_with_a_time_limit():
    # The render job and the batch ZIP job (payments.build_receipts_zip), each with its time limit.
    assert {f.name for f in functions} == {"payments.render_receipts", "payments.build_receipts_zip"}
    job = next(f for f in functions if f.name == "payments.render_receipts")
    assert job.timeout_s and job.timeout_s > 0
    assert all(f.timeout_s and f.timeout_s > 0 for f in functions)


async def test_batch_receipts_writes_one_verified_pdf_per_payment(settled_batch, tmp_dir):
    from payments.service import receipts_of_batch

    renderer = ReceiptRenderer.from_settings(_settings(tmp_dir))
    paths = await write_batch_receipts(settled_batch, tmp_dir / "out", renderer=renderer, processes=2)
    facts_list = await receipts_of_batch(settled_batch)
    assert [p.name for p in paths] == [f"{f.batch_id}-{f.payment_id}-{f.code}.pdf" for f in facts_list]
    for facts, path in zip(facts_list, paths):
        report = await async_verify_receipt_pdf(
            path.read_bytes(), facts_digest(facts), trust_certs=[renderer.seal().certificate]
        )
        assert report.ok, report.problems
