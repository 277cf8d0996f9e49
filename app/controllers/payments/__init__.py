"""HTTP routes of payments: the JSON API under /api/finance (api.py) and the finance pages under /finance (pages.py)."""

from app.controllers.payments import api, pages

route_handlers = [*api.route_handlers, *pages.route_handlers]
