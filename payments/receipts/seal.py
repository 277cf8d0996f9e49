"""The issuing department's round red seal (专用章 style) drawn as SVG, so nothing is downloaded."""
from __future__ import annotations

import math
from functools import lru_cache
from html import escape

SEAL_RED = "#d0021b"


def _star(cx: float, cy: float, outer: float) -> str:
    inner = outer * 0.382  # the golden-ratio inner radius of a regular five-pointed star
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.radians(-90 + i * 36)
        points.append(f"{cx + radius * math.cos(angle):.2f},{cy + radius * math.sin(angle):.2f}")
    return f'<polygon points="{" ".join(points)}" fill="{SEAL_RED}"/>'


@lru_cache(maxsize=64)
def seal_svg(department: str, purpose: str = "回单专用章", *, size: int = 200) -> str:
    """A round seal: the department's name along the upper rim, a star, the purpose below it."""
    c = size / 2
    rim = size * 0.47
    text_radius = size * 0.325  # the baseline; glyphs rise outward toward the rim
    char_size = size * 0.105 if len(department) <= 14 else size * 0.085
    # the name spans at most ~240 degrees of the upper arc, centred on the top
    span = min(240.0, 17.0 * max(len(department) - 1, 1))
    step = span / max(len(department) - 1, 1)
    start = -90 - span / 2 if len(department) > 1 else -90
    glyphs = []
    for i, char in enumerate(department):
        angle = start + i * step
        x = c + text_radius * math.cos(math.radians(angle))
        y = c + text_radius * math.sin(math.radians(angle))
        glyphs.append(
            f'<text x="{x:.2f}" y="{y:.2f}" transform="rotate({angle + 90:.2f} {x:.2f} {y:.2f})" '
            f'text-anchor="middle" font-size="{char_size:.1f}">{escape(char)}</text>'
        )
    purpose_size = size * 0.085
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">'
        f'<g fill="{SEAL_RED}" font-family="WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif" opacity="0.88">'
        f'<circle cx="{c}" cy="{c}" r="{rim:.2f}" fill="none" stroke="{SEAL_RED}" stroke-width="{size * 0.03:.2f}"/>'
        f'{"".join(glyphs)}'
        f'{_star(c, c, size * 0.15)}'
        f'<text x="{c}" y="{c + size * 0.32:.2f}" text-anchor="middle" '
        f'font-size="{purpose_size:.1f}">{escape(purpose)}</text>'
        f"</g></svg>"
    )
