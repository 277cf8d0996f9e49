"""HTTP routes of portal (JSON API under /api, pages under /)."""
from __future__ import annotations

route_handlers: list = []
