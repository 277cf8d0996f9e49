"""HTTP routes of portal_pages (JSON API under /api, pages under /)."""
from __future__ import annotations

route_handlers: list = []
