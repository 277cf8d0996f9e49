"""Garbage is refused, never stored as data: other encodings, repeated subjects, unknown columns, empty files,
runaway or control-laden text, non-ASCII digits, and NDJSON lines that are no profile (DESIGN invariant 6)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from eligibility.errors import EligibilityError
from eligibility.importer import import_file
from eligibility.profiles import field_names
from eligibility.service import count_profiles, get_profile
from eligibility.synthetic import generate, write_csv, write_ndjson
from kit.errors import AppError
from kit.text import NotUtf8, Utf8Check
from tests.conftest import zhida
from tests.eligibility import test_api
from tests.eligibility.helpers import ACTOR, CONFORMANCE, import_bytes
from tests.eligibility.test_api import _json_profile
from tests.web import alogin, csrf_headers

feed, client = test_api.feed, test_api.client  # the exchange API's fixtures (a feed key, the app's client)


def _csv(kind: str, rows: list[dict], header: list[str] | None = None) -> str:
    header = header or list(rows[0])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r.get(f) is None else ";".join(r[f]) if isinstance(r[f], tuple) else r[f] for f in header])
    return out.getvalue()


def _ndjson(rows: list[dict]) -> str:
    return "".join(json.dumps(_json_profile(r), ensure_ascii=False) + "\n" for r in rows)


async def _refused(kind: str, data: bytes, fmt: str = "csv") -> str:
    with pytest.raises(AppError) as caught:
        await import_bytes(kind, data, fmt)
    return caught.value.message


# -- strict UTF-8 -------------------------------------------------------------------------------------------


async def test_a_gbk_file_is_refused_naming_its_line_and_stores_nothing(fresh_db, tmp_dir):
    rows = list(generate("enterprise", 6000, seed=21))  # more than a batch: the bad line is in the second one
    text = _csv("enterprise", rows)
    lines = text.splitlines(keepends=True)
    # Line 5,502 in GBK (the way a 法人库 export often arrives); every other line UTF-8.
    data = "".join(lines[:5501]).encode() + lines[5501].encode("gbk") + "".join(lines[5502:]).encode()
    message = await _refused("enterprise", data)
    assert "line 5502" in message and "UTF-8" in message
    assert await count_profiles("enterprise") == 0
    path = tmp_dir / "gbk.csv"
    path.write_bytes(data)
    for parallel in (True, False):
        with pytest.raises(EligibilityError, match="line 5502"):
            await import_file(str(path), "enterprise", actor=ACTOR, parallel=parallel)
    assert await count_profiles("enterprise") == 0
    nd = _ndjson(rows[:3]).encode("gbk")
    assert "line 1" in await _refused("enterprise", nd, fmt="ndjson")
    # A BOM stays accepted; a name in UTF-8 is stored whole.
    report, rejects = await import_bytes("enterprise", b"\xef\xbb\xbf" + "".join(lines[:4]).encode())
    assert (report.inserted, rejects) == (3, [])
    assert (await get_profile("enterprise", rows[0]["uscc"]))["name"] == rows[0]["name"]


def test_the_utf8_check_counts_lines_across_chunks_and_characters_cut_by_them():
    data = "名称\n张三\n".encode() + "李四".encode("gbk") + b"\n"
    check = Utf8Check()
    with pytest.raises(NotUtf8) as caught:
        for i in range(len(data)):  # a byte a chunk: every character is cut
            check.feed(data[i : i + 1])
        check.feed(b"", final=True)
    assert caught.value.line == 3
    whole = Utf8Check()
    for i in range(len(data) - 5):
        whole.feed(data[i : i + 1])
    whole.feed(b"", final=True)  # the good part, fed a byte at a time, passes
    with pytest.raises(NotUtf8):  # a stream ending inside a character is refused unless the caller allows it
        Utf8Check().feed("张".encode()[:2], final=True)
    Utf8Check(cut_off_end=True).feed("张".encode()[:2], final=True)


def test_cli_refuses_a_gbk_file_with_exit_1_naming_the_line(fresh_db, tmp_dir):
    rows = list(generate("talent", 3, seed=22))
    path = tmp_dir / "t.csv"
    path.write_bytes(_csv("talent", rows).encode("gbk"))
    proc = zhida("profiles", "import", str(path), "--kind", "talent", cwd=tmp_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "line 2" in proc.stderr and "UTF-8" in proc.stderr and "Traceback" not in proc.stderr


async def test_exchange_api_is_strict_utf8_accepts_a_bom_and_answers_4xx_for_deep_json(client, feed):
    url = "/api/exchange/enterprise/profiles"
    headers = {"x-api-key": feed, "content-type": "application/json"}
    good = [_json_profile(p) for p in generate("enterprise", 2, seed=23)]
    body = json.dumps(good, ensure_ascii=False)
    r = await client.post(url, content=body.encode("gbk"), headers=headers)
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    for deep in (b"[" * 100_000, b'{"uscc": ' + b"[" * 100_000):
        r = await client.post(url, content=deep, headers=headers)
        assert r.status_code == 400, r.text
    r = await client.post(url, content=b"\xef\xbb\xbf" + body.encode(), headers=headers)
    assert r.status_code == 200 and r.json()["inserted"] == 2, r.text


async def test_pack_api_refuses_a_gbk_pack_instead_of_storing_replacement_characters(client, feed):
    await alogin(client, "u_officer")
    pack = (CONFORMANCE / "sample_pack.yaml").read_text(encoding="utf-8")
    r = await client.post("/api/policies/packs", content=pack.encode("gbk"), headers=csrf_headers(client))
    assert r.status_code == 422, r.text
    assert "UTF-8" in r.json()["error"] and r.json()["detail"][0]["line"] >= 1
    assert (await client.get("/api/policies/SAMPLE-POSTDOC")).status_code == 404
    r = await client.post("/api/policies/packs", content=pack.encode(), headers=csrf_headers(client))
    assert r.status_code == 201, r.text


# -- a subject twice in one file ----------------------------------------------------------------------------


async def test_a_second_row_of_a_subject_is_rejected_naming_both_lines(fresh_db):
    rows = list(generate("enterprise", 4, seed=24))
    repeat = {**rows[1], "employees": rows[1]["employees"] + 7}
    for fmt, data, first, second in (
        ("csv", _csv("enterprise", [*rows, repeat]), 3, 6),
        ("ndjson", _ndjson([*rows, repeat]), 2, 5),
    ):
        report, rejects = await import_bytes("enterprise", data.encode(), fmt)
        assert report.rejected == 1 and report.unchanged + report.inserted == 4
        assert [(line, field) for line, field, _ in rejects] == [(second, "uscc")]
        assert f"line {first}" in rejects[0][2] and f"{second}" in rejects[0][2]
        assert (await get_profile("enterprise", rows[1]["uscc"]))["employees"] == rows[1]["employees"]


async def test_exchange_api_rejects_a_repeated_subject_and_unknown_keys(client, feed):
    url = "/api/exchange/enterprise/profiles"
    good = [_json_profile(p) for p in generate("enterprise", 2, seed=25)]
    typo = {**good[1], "uscc": _json_profile(next(iter(generate("enterprise", 3, seed=26))))["uscc"]}
    typo["bank_acount"] = typo.pop("bank_account")
    r = await client.post(url, json=[*good, {**good[0], "employees": 1}, typo], headers={"x-api-key": feed})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["rejected"]) == (2, 2)
    assert [(x["index"], x["field"]) for x in body["rejects"]] == [(2, "uscc"), (3, "bank_acount")]
    assert "profile 0" in body["rejects"][0]["reason"] and "'bank_account'" in body["rejects"][1]["reason"]
    r = await client.post(url, json=[], headers={"x-api-key": feed})
    assert r.status_code == 422


# -- columns that are no field ------------------------------------------------------------------------------


async def test_an_unknown_column_refuses_the_file_naming_the_closest_field(fresh_db, tmp_dir):
    rows = list(generate("enterprise", 3, seed=27))
    header = [("bank_acount" if f == "bank_account" else f) for f in rows[0]]
    data = _csv("enterprise", [{**r, "bank_acount": r["bank_account"]} for r in rows], header)
    message = await _refused("enterprise", data.encode())
    assert "'bank_acount'" in message and "did you mean 'bank_account'" in message
    assert await count_profiles("enterprise") == 0
    noted = _csv("enterprise", rows, [*rows[0], "note"])
    assert "'note' is not a field" in await _refused("enterprise", noted.encode())
    nd = _ndjson(rows).replace('"bank_account"', '"bank_acount"', 1)
    message = await _refused("enterprise", nd.encode(), fmt="ndjson")
    assert "line 1" in message and "did you mean 'bank_account'" in message
    assert await count_profiles("enterprise") == 0
    path = tmp_dir / "typo.csv"
    path.write_text(data, encoding="utf-8")
    proc = zhida("profiles", "import", str(path), "--kind", "enterprise", cwd=tmp_dir)
    assert proc.returncode == 1 and "bank_account" in proc.stderr and "Traceback" not in proc.stderr


# -- empty files --------------------------------------------------------------------------------------------


async def test_an_empty_file_is_refused_not_a_success(fresh_db, tmp_dir):
    header = ",".join(field_names("enterprise"))
    for fmt, data in (
        ("csv", b""),
        ("csv", b"\xef\xbb\xbf"),
        ("csv", (header + "\n\n").encode()),
        ("ndjson", b"\n \n"),
    ):
        message = await _refused("enterprise", data, fmt)
        assert "empty" in message or "no profile rows" in message
    path = tmp_dir / "empty.csv"
    path.write_bytes(b"")
    proc = zhida("profiles", "import", str(path), "--kind", "enterprise", cwd=tmp_dir)
    assert proc.returncode == 1 and "empty" in proc.stderr and "inserted 0" not in proc.stdout


# -- bounded, one-line text; ASCII digits -------------------------------------------------------------------


async def test_runaway_or_control_laden_text_is_a_rejected_row(fresh_db):
    rows = list(generate("talent", 8, seed=28))
    bad = {
        0: ("name", "张" * 201),
        1: ("name", "张\x00三"),
        2: ("name", "张\n三"),
        3: ("bank_name", "中国银行\u202e行银"),
        4: ("tags", ("a" * 51,)),
        5: ("name", "张\ufffd"),
    }
    for i, (field, value) in bad.items():
        rows[i] = {**rows[i], field: value}
    rows[6] = {**rows[6], "name": "张" * 3_500_000}  # a line too long to be a profile: rejected unparsed
    report, rejects = await import_bytes("talent", _ndjson(rows).encode(), fmt="ndjson")
    assert report.inserted == 1 and report.rejected == 7
    assert [(line, field) for line, field, _ in rejects] == [(i + 1, f) for i, (f, _) in bad.items()] + [(7, "")]
    assert "201 characters long, at most 200" in rejects[0][2] and "longer than" in rejects[6][2]
    assert "NUL" in rejects[1][2] and "line break" in rejects[2][2]
    csv_rows = list(generate("talent", 2, seed=29))
    csv_rows[0]["name"] = "李\r\n四"  # a quoted newline in a cell
    report, rejects = await import_bytes("talent", _csv("talent", csv_rows).encode())
    assert report.inserted == 1 and [(line, field) for line, field, _ in rejects] == [(2, "name")]
    assert await get_profile("talent", csv_rows[0]["id_number"]) is None


async def test_numbers_accept_ascii_digits_only(fresh_db):
    rows = list(generate("enterprise", 7, seed=30))
    bad = {
        0: ("bank_account", "６２２２０２１２３４５６７８９０"),
        1: ("employees", "１２３"),
        2: ("employees", "²"),
        3: ("founded_on", "2020-W01-1"),
        4: ("bank_account", "6222-0212-3456"),
    }
    for i, (field, value) in bad.items():
        rows[i] = {**rows[i], field: value}
    rows[5] = {**rows[5], "bank_account": "6222 0212 3456 7890"}  # grouped by spaces: the digits are stored
    report, rejects = await import_bytes("enterprise", _csv("enterprise", rows).encode())
    assert report.inserted == 2 and report.rejected == 5
    assert [(line, field) for line, field, _ in rejects] == [(i + 2, f) for i, (f, _) in bad.items()]
    assert "full-width" in rejects[0][2]
    assert (await get_profile("enterprise", rows[5]["uscc"]))["bank_account"] == "6222021234567890"
    for r in rows[:5]:
        assert await get_profile("enterprise", r["uscc"]) is None


# -- NDJSON lines that are no profile -----------------------------------------------------------------------


async def test_odd_ndjson_lines_are_rejected_lines_never_a_crash(fresh_db, tmp_dir):
    rows = list(generate("enterprise", 2, seed=31))
    lines = [
        json.dumps(_json_profile(rows[0]), ensure_ascii=False),
        '{"uscc": "x",',  # cut off
        "[1, 2]",
        "42",
        '"a string"',
        '{"employees": ' + "9" * 5000 + "}",  # beyond Python's int-from-text limit (a ValueError without .msg)
        '{"name": ' + "[" * 50_000 + "]" * 50_000 + "}",  # RecursionError in the parser
        json.dumps(_json_profile(rows[1]), ensure_ascii=False),
    ]
    data = ("\n".join(lines) + "\n").encode()
    report, rejects = await import_bytes("enterprise", data, fmt="ndjson")
    assert (report.inserted, report.rejected) == (2, 6)
    assert [line for line, _, _ in rejects] == [2, 3, 4, 5, 6, 7]
    assert "not valid JSON" in rejects[0][2] and "an array, not a JSON object" in rejects[1][2]
    assert "nested too deeply" in rejects[5][2]
    path = tmp_dir / "odd.ndjson"
    path.write_bytes(data)
    proc = zhida("profiles", "import", str(path), "--kind", "enterprise", cwd=tmp_dir)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr and "line 7" in proc.stderr


async def test_synthetic_files_still_import_whole(fresh_db, tmp_dir):
    """The bounds are no obstacle to real data: generated files of both kinds import without a reject."""
    for kind in ("enterprise", "talent"):
        rows = list(generate(kind, 300, seed=32))
        for writer, name in ((write_csv, "p.csv"), (write_ndjson, "p.ndjson")):
            path = tmp_dir / f"{kind}-{name}"
            writer(kind, rows, str(path))
            rejects = []
            await import_file(str(path), kind, actor=ACTOR, reject=lambda *r: rejects.append(r))  # noqa: B023
            assert rejects == []
        assert await count_profiles(kind) == 300
