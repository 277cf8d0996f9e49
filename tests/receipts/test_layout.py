"""The receipt's layout, measured on WeasyPrint's own boxes: the issuer's name and the date sit clear of the red
seal and inside its column; the bank serial's cell spans its row (no rule crosses the serial)."""

from __future__ import annotations

import pytest

from payments.receipts.render import _weasy_objects, receipt_html
from tests.receipts.conftest import BASE_URL
from tests.receipts.factories import receipt_facts


def _boxes(box):
    yield box
    for child in getattr(box, "children", []) or []:
        yield from _boxes(child)


def _rect(box):
    return (box.position_x, box.position_y, box.position_x + box.margin_width(), box.position_y + box.margin_height())


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _layout(issuer: str):
    font_config, css, html_class = _weasy_objects()
    facts = receipt_facts().model_copy(update={"issuer": issuer})
    doc = html_class(string=receipt_html(facts, base_url=BASE_URL)).render(stylesheets=[css], font_config=font_config)
    return facts, list(_boxes(doc.pages[0]._page_box))


@pytest.mark.parametrize("issuer", ["南昌市科学技术局", "南昌市人力资源和社会保障局、南昌市财政局"])
def test_issuer_and_date_are_clear_of_the_seal_and_inside_the_column(issuer):
    facts, boxes = _layout(issuer)
    seal = next(b for b in boxes if b.element_tag == "img" and "seal" in (b.element.get("class") or ""))
    column = next(b for b in boxes if b.element_tag == "td" and "issuer" in (b.element.get("class") or ""))
    seal_rect, col_rect = _rect(seal), _rect(column)
    texts = [b for b in boxes if type(b).__name__ == "TextBox" and b.text.strip()]
    near = [t for t in texts if _rect(t)[1] >= col_rect[1] - 1 and _rect(t)[0] >= col_rect[0] - 1]
    issued = [t for t in near if any(ch in t.text for ch in issuer[:4] + "年月日")]
    assert issued, [t.text for t in near]
    for t in issued:
        r = _rect(t)
        assert not _overlap(r, seal_rect), (t.text, r, seal_rect)
        assert col_rect[0] - 0.5 <= r[0] and r[2] <= col_rect[2] + 0.5, (t.text, r, col_rect)


def test_the_bank_serial_cell_spans_its_row():
    facts, boxes = _layout("南昌市科学技术局")
    cell = next(
        b
        for b in boxes
        if b.element_tag == "td" and any(getattr(x, "text", "") == facts.bank_transfer_id for x in _boxes(b))
    )
    assert cell.colspan == 2
