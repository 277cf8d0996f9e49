"""Bulk import: exact rejects with line numbers, upsert counts, re-import unchanged, cut-off files, audit."""

from __future__ import annotations

import csv
import io
import json

from app.tables import AuditEntry
from eligibility.service import count_profiles, get_profile
from eligibility.synthetic import generate, write_csv, write_ndjson
from tests.conftest import zhida
from tests.eligibility.helpers import ACTOR, CONFORMANCE, import_bytes


async def test_conformance_files_reject_exactly_the_invalid_lines(fresh_db):
    want = json.loads((CONFORMANCE / "expected_rejected_lines.json").read_text())
    for kind, key in (("enterprise", "enterprises"), ("talent", "talents")):
        data = (CONFORMANCE / f"{key}.csv").read_bytes()
        report, rejects = await import_bytes(kind, data)
        assert sorted({line for line, _, _ in rejects}) == sorted(want[key])
        assert report.rejected == len(want[key]) and report.inserted == data.count(b"\n") - 1 - len(want[key])
        again, _ = await import_bytes(kind, data)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, report.inserted)


async def test_bom_column_order_update_and_ndjson(fresh_db, tmp_dir):
    rows = list(generate("enterprise", 20, seed=3))
    path = tmp_dir / "e.csv"
    write_csv("enterprise", rows, str(path))
    text = path.read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    order = list(reversed(range(len(table[0]))))
    shuffled = io.StringIO()
    csv.writer(shuffled).writerows([[r[i] for i in order] for r in table])
    report, rejects = await import_bytes("enterprise", b"\xef\xbb\xbf" + shuffled.getvalue().encode())
    assert (report.inserted, report.rejected, rejects) == (20, 0, [])
    rows[0]["employees"] += 1
    nd = tmp_dir / "e.ndjson"
    write_ndjson("enterprise", rows, str(nd))
    report, _ = await import_bytes("enterprise", nd.read_bytes(), fmt="ndjson")
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 19)
    assert (await get_profile("enterprise", rows[0]["uscc"]))["employees"] == rows[0]["employees"]


async def test_csv_cells_are_read_by_their_header(fresh_db):
    """A column the file lacks is a missing value, a repeated column's last cell counts; a required field without
    a column rejects every row, naming it. (A column that is no field refuses the file: test_garbage.py.)"""
    rows = list(generate("enterprise", 3, seed=4))
    header = ["employees"] + [f for f in rows[0] if f not in ("rd_expense", "tags")] + ["employees"]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    for r in rows:
        w.writerow(["999"] + [r[f] if r[f] is not None else "" for f in header[1:-1]] + [r["employees"]])
    report, rejects = await import_bytes("enterprise", out.getvalue().encode())
    assert (report.inserted, report.rejected, rejects) == (3, 0, [])
    for r in rows:
        stored = await get_profile("enterprise", r["uscc"])
        assert (stored["employees"], stored["rd_expense"], stored["tags"]) == (r["employees"], None, None)
    no_name = "\n".join(",".join(str(v) for k, v in r.items() if k == "uscc") for r in rows)
    report, rejects = await import_bytes("enterprise", ("uscc\n" + no_name + "\n").encode())
    assert report.rejected == 3 and {field for _, field, _ in rejects} >= {"name", "region_code"}
    assert all(reason == "required value is missing" for _, field, reason in rejects if field == "name")


async def test_numbers_too_large_to_store_are_rejected_rows_not_a_failed_import(fresh_db, tmp_dir):
    """A value beyond the 64-bit columns (or Python's 4,300-digit int-from-text limit) is a rejected row with its
    reason; the other rows are stored, from CSV and from NDJSON."""
    path = tmp_dir / "big.csv"
    write_csv("enterprise", generate("enterprise", 4, seed=6), str(path))
    table = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    table[1]["revenue"] = "9" * 25
    table[2]["employees"] = "9" * 5000
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(table[0]))
    w.writeheader()
    w.writerows(table)
    report, rejects = await import_bytes("enterprise", out.getvalue().encode())
    assert (report.inserted, report.rejected) == (2, 2)
    assert {(line, field) for line, field, _ in rejects} == {(3, "revenue"), (4, "employees")}
    assert all("too large to store" in reason for _, _, reason in rejects)
    big = {k: v for k, v in table[3].items() if v != ""} | {"tax_paid": 10**30}
    report, rejects = await import_bytes("enterprise", (json.dumps(big) + "\n").encode(), fmt="ndjson")
    assert report.rejected == 1 and rejects[0][1] == "tax_paid" and "too large to store" in rejects[0][2]


async def test_file_cut_off_mid_row_keeps_data_consistent(fresh_db, tmp_dir):
    rows = list(generate("talent", 30, seed=5))
    path = tmp_dir / "t.csv"
    write_csv("talent", rows, str(path))
    data = path.read_bytes()
    cut = data[: data.rindex(b"\n", 0, len(data) - 1) + 20]  # last row broken off after 20 bytes
    report, rejects = await import_bytes("talent", cut)
    assert report.inserted == 29 and report.rejected == 1 and rejects[0][0] == 31
    assert await count_profiles("talent") == 29
    report, _ = await import_bytes("talent", data)
    assert (report.inserted, report.unchanged) == (1, 29)


async def test_every_import_is_audited_with_digest_and_counts(fresh_db):
    data = (CONFORMANCE / "talents.csv").read_bytes()
    report, _ = await import_bytes("talent", data)
    entry = (await AuditEntry.select().where(AuditEntry.action == "eligibility.profiles_import"))[-1]
    detail = json.loads(entry["detail"])
    assert detail["file_sha256"] == report.digest and detail["rejected"] == 2 and entry["actor"] == "tester"


def test_cli_import_exit_3_and_rejects_file(tmp_dir):
    rej = tmp_dir / "rej.csv"
    proc = zhida(
        "profiles", "import", str(CONFORMANCE / "enterprises.csv"), "--kind", "enterprise", "--rejects", str(rej)
    )
    assert proc.returncode == 3, proc.stderr
    assert "rejected 4" in proc.stdout
    lines = [int(r[0]) for r in list(csv.reader(rej.open(encoding="utf-8")))[1:]]
    assert lines == [77, 191, 226, 247]


async def _stored(kind: str) -> list[dict]:
    from eligibility import store

    table = store.TABLES[kind]
    rows = await table.raw(f"SELECT * FROM {table._meta.tablename} ORDER BY subject_id")
    return [{k: v for k, v in r.items() if k not in ("id", "updated_at")} for r in rows]


async def test_big_file_path_in_a_second_process_equals_the_in_process_path(fresh_db, tmp_dir):
    """import_file parses a big file in a second process: the same report, rejects (in order), stored rows
    and audit entry as the in-process path, for CSV with invalid and cut-off rows and for NDJSON."""
    from eligibility.importer import import_file
    from tests.conftest import truncate_all

    rows = list(generate("enterprise", 12_000, seed=11))  # more than two batches
    rows[5]["uscc"] = rows[5]["uscc"][:17] + ("0" if rows[5]["uscc"][17] != "0" else "1")  # bad check character
    rows[7000]["employees"] = -3
    rows[9000] = dict(rows[10])  # the same subject twice (in another batch): the later row is rejected
    rows[9000]["employees"] += 5
    csv_path, nd_path = tmp_dir / "big.csv", tmp_dir / "big.ndjson"
    write_csv("enterprise", rows, str(csv_path))
    data = csv_path.read_bytes()
    csv_path.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 25])  # the last row cut off
    write_ndjson("enterprise", rows[:3000], str(nd_path))

    outcomes = []
    for parallel in (True, False):
        await truncate_all()
        got = []
        for path in (csv_path, nd_path, csv_path):
            rejects = []
            report = await import_file(
                str(path),
                "enterprise",
                actor=ACTOR,
                parallel=parallel,
                reject=lambda line, field, reason: rejects.append((line, field, reason)),  # noqa: B023
            )
            got.append((report.model_dump(), rejects))
        audit = [
            (e["action"], e["detail"])
            for e in await AuditEntry.select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.action == "eligibility.profiles_import")
            .order_by(AuditEntry.id)
        ]
        outcomes.append((got, await _stored("enterprise"), audit))
    (par, par_rows, par_audit), (seq, seq_rows, seq_audit) = outcomes
    assert par == seq and par_rows == seq_rows and par_audit == seq_audit
    first, rejects = par[0]
    assert first["rejected"] == 4 and [r[0] for r in rejects] == [7, 7002, 9002, 12001]
    assert rejects[2][1] == "uscc" and "line 12" in rejects[2][2]  # the repeat names the subject's first line
    # 12,000 - 4 rejected (the repeat among them): the subject keeps its first row
    assert (first["inserted"], first["updated"], first["unchanged"]) == (11_996, 0, 0)
    # Again after the NDJSON (the same rows): nothing changes.
    again = par[2][0]
    assert (again["inserted"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 11_996, 4)
    assert len(par_rows) == 11_996
