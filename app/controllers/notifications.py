"""HTTP routes of notifications (JSON API under /api, pages under /)."""

from __future__ import annotations

route_handlers: list = []
