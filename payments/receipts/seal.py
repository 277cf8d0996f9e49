"""The issuing department's round red seal (专用章 style), drawn with Pillow; nothing is downloaded.

A JPEG on white rather than SVG or PNG: WeasyPrint re-draws an SVG's text on every render and re-encodes
a PNG (and its alpha mask) on every render, but embeds a JPEG's bytes as they are. The receipt paints
the issuer's name over the seal, so the white square does not hide anything.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SEAL_RED = (208, 2, 27)
_FONT_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC")
_FALLBACK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@lru_cache(maxsize=1)
def cjk_font_file() -> str:
    """The file of the CJK face the receipt uses, found through fontconfig."""
    if shutil.which("fc-match"):
        for family in _FONT_FAMILIES:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", f"{family}:lang=zh-cn"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if found and found.endswith((".ttc", ".ttf", ".otf")):
                return found
    return _FALLBACK_FONT_FILES[0]


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, outer: float) -> None:
    inner = outer * 0.382  # the golden-ratio inner radius of a regular five-pointed star
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.radians(-90 + i * 36)
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=SEAL_RED)


def _glyph(char: str, font: ImageFont.FreeTypeFont, angle_degrees: float) -> Image.Image:
    box = int(font.size) * 3 // 2  # the size is a whole number of pixels (truetype() was given an int)
    tile = Image.new("RGBA", (box, box), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((box / 2, box / 2), char, font=font, fill=SEAL_RED, anchor="mm")
    return tile.rotate(-angle_degrees, resample=Image.Resampling.BICUBIC, center=(box / 2, box / 2))


@lru_cache(maxsize=64)
def seal_jpeg(department: str, purpose: str = "回单专用章", *, size: int = 360) -> bytes:
    """A round seal: the department's name along the upper rim, a star, the purpose below it."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = size / 2
    stroke = size * 0.03
    draw.ellipse(
        [
            stroke / 2 + size * 0.02,
            stroke / 2 + size * 0.02,
            size - stroke / 2 - size * 0.02,
            size - stroke / 2 - size * 0.02,
        ],
        outline=SEAL_RED,
        width=round(stroke),
    )
    font_file = cjk_font_file()
    radius = size * 0.36  # glyph centres; the glyphs' tops stay inside the rim
    span = min(250.0, 18.0 * max(len(department) - 1, 1))  # at most ~250° of the upper arc
    step = span / max(len(department) - 1, 1)
    start = -90 - span / 2 if len(department) > 1 else -90
    # long names get smaller glyphs so neighbours on the arc do not touch
    arc_per_glyph = radius * math.radians(step) if len(department) > 1 else size
    name_font = ImageFont.truetype(font_file, max(8, round(min(size * 0.105, arc_per_glyph * 0.92))))
    radius = size * 0.414 - name_font.size / 2  # smaller glyphs sit as close to the rim as large ones
    for i, char in enumerate(department):
        angle = start + i * step
        tile = _glyph(char, name_font, angle + 90)
        x = c + radius * math.cos(math.radians(angle)) - tile.width / 2
        y = c + radius * math.sin(math.radians(angle)) - tile.height / 2
        image.alpha_composite(tile, (round(x), round(y)))
    _star(draw, c, c, size * 0.15)
    purpose_font = ImageFont.truetype(font_file, round(size * 0.085))
    draw.text((c, c + size * 0.29), purpose, font=purpose_font, fill=SEAL_RED, anchor="mm")
    # ink at 88%: a real stamp is never a flat opaque red
    alpha = image.getchannel("A").point(lambda a: a * 88 // 100)
    image.putalpha(alpha)
    paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
    paper.alpha_composite(image)
    buffer = io.BytesIO()
    paper.convert("RGB").save(buffer, format="JPEG", quality=88, optimize=True)
    return buffer.getvalue()
