"""HTTP routes of receipts (JSON API under /api, pages under /)."""
from __future__ import annotations

route_handlers: list = []
