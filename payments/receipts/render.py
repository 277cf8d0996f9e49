"""Receipt PDFs: facts → HTML (Jinja) → PDF (WeasyPrint) → signed PDF (pyHanko), cached by content digest."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
from functools import lru_cache
from pathlib import Path

import jinja2
import qrcode

from kit.time import CHINA, beijing_text
from kit.vocab import SubjectKind
from payments.receipts.amount_words import amount_in_words
from payments.receipts.schemas import ReceiptFacts, facts_digest
from payments.receipts.seal import seal_jpeg
from payments.receipts.signing import SealSigner, sign_pdf_bytes

DEFAULT_PLATFORM_NAME = "政策直达平台 Zhida"
RECEIPT_TITLE = "政策补贴资金支付回单"
DIGEST_MARK = "facts-sha256:"  # how the facts digest is written in the PDF keywords and the signature reason
# Bump when the template or CSS changes, so cached PDFs of the old layout are not served.
TEMPLATE_VERSION = "6"  # the seal alone, issuer and date under it; the bank serial spans its row
SHANGHAI = CHINA  # the bank's and the receipts' time: China's
TEMPLATES = Path(__file__).parent / "templates"

_jinja = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
_weasy_lock = threading.Lock()
# One render at a time per process: WeasyPrint's shared font configuration (Pango, fontconfig) is not
# meant for concurrent threads, and the work is CPU-bound under the GIL anyway. Processes scale it.
_render_lock = threading.Lock()
_weasy: dict[str, object] = {}


def _weasy_objects():
    """WeasyPrint's FontConfiguration, the parsed CSS and the HTML class, built once per process."""
    with _weasy_lock:
        if not _weasy:
            from weasyprint import CSS, HTML
            from weasyprint.text.fonts import FontConfiguration

            font_config = FontConfiguration()
            receipt_ua = CSS(filename=str(TEMPLATES / "ua.css"), font_config=font_config)

            class ReceiptHTML(HTML):
                """The receipt's few user-agent rules instead of the full HTML5 sheet (WeasyPrint 70's hook)."""

                def _ua_stylesheets(self, forms=False):
                    return [receipt_ua]

            _weasy["font_config"] = font_config
            _weasy["css"] = CSS(filename=str(TEMPLATES / "receipt.css"), font_config=font_config)
            _weasy["html_class"] = ReceiptHTML
        return _weasy["font_config"], _weasy["css"], _weasy["html_class"]


def verify_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{code}"


def _data_uri(mime: str, content: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def qr_png(text: str) -> bytes:
    """A QR code as an 8-bit grey PNG (a raster is drawn faster than an SVG; the CSS keeps its edges sharp)."""
    # A fixed mask: every mask decodes alike, and scoring all eight is two thirds of qrcode's time.
    code = qrcode.QRCode(box_size=4, border=1, error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=0)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image()
    buffer = io.BytesIO()
    # 8-bit grey: WeasyPrint embeds L images directly but does not know 1-bit ones
    image.get_image().convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=64)
def _seal_data_uri(issuer: str) -> str:
    return _data_uri("image/jpeg", seal_jpeg(issuer))


def receipt_html(facts: ReceiptFacts, *, base_url: str, platform_name: str = DEFAULT_PLATFORM_NAME) -> str:
    """The receipt as a self-contained HTML document (images are data URIs)."""
    url = verify_url(base_url, facts.code)
    talent = facts.payee_kind == SubjectKind.TALENT
    issuer = facts.issuer or platform_name  # a policy without a department is issued by the platform
    return _jinja.get_template("receipt.html").render(
        f=facts,
        title=RECEIPT_TITLE,
        platform_name=platform_name,
        digest=facts_digest(facts),
        amount_figures=f"{facts.amount:,.2f}",
        amount_words=amount_in_words(facts.amount),
        payee_kind_label="人才" if talent else "企业",
        payee_id_label="证件号码" if talent else "信用代码",
        settled_local=beijing_text(facts.settled_at, seconds=True),  # the pages' format: "…（北京时间）"
        issued_local=facts.issued_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日"),
        verify_url=url,
        qr_data_uri=_data_uri("image/png", qr_png(url)),
        issuer=issuer,
        seal_data_uri=_seal_data_uri(issuer),
    )


def render_unsigned_pdf(facts: ReceiptFacts, *, base_url: str, platform_name: str = DEFAULT_PLATFORM_NAME) -> bytes:
    font_config, css, html_class = _weasy_objects()
    html = receipt_html(facts, base_url=base_url, platform_name=platform_name)
    with _render_lock:
        return html_class(string=html).write_pdf(stylesheets=[css], font_config=font_config)


def signature_reason(facts: ReceiptFacts) -> str:
    return f"Zhida receipt {facts.code}; {DIGEST_MARK}{facts_digest(facts)}"


def render_receipt_pdf(
    facts: ReceiptFacts, *, base_url: str, seal: SealSigner, platform_name: str = DEFAULT_PLATFORM_NAME
) -> bytes:
    """The signed receipt PDF. The facts digest is in the keywords and in the signature's reason."""
    pdf = render_unsigned_pdf(facts, base_url=base_url, platform_name=platform_name)
    issuer = facts.issuer or platform_name
    return sign_pdf_bytes(pdf, seal, reason=signature_reason(facts), location=issuer, name=issuer)


def cache_key(facts: ReceiptFacts, *, base_url: str, platform_name: str, seal: SealSigner) -> str:
    """<facts digest>-<8 hex of what else shapes the file>: base URL (in the QR), platform name, layout, seal."""
    extras = "\n".join([base_url.rstrip("/"), platform_name, TEMPLATE_VERSION, seal.certificate.sha256.hex()])
    return f"{facts_digest(facts)}-{hashlib.sha256(extras.encode('utf-8')).hexdigest()[:8]}"


def get_or_render(
    facts: ReceiptFacts, cache_dir: Path, *, base_url: str, seal: SealSigner, platform_name: str = DEFAULT_PLATFORM_NAME
) -> Path:
    """The cached signed PDF of these facts (cache_dir/<key>.pdf), rendering it on the first request."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{cache_key(facts, base_url=base_url, platform_name=platform_name, seal=seal)}.pdf"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    pdf = render_receipt_pdf(facts, base_url=base_url, seal=seal, platform_name=platform_name)
    _write_atomically(path, pdf)
    return path


def _write_atomically(path: Path, content: bytes) -> None:
    # concurrent renders of the same receipt each write a whole file; the last rename wins
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
