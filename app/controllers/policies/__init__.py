"""HTTP routes of policies: the JSON API under /api/policies (api.py) and the officer's and reviewer's pages under
/policies (pages.py)."""

from app.controllers.policies import api, pages

route_handlers = [*api.route_handlers, *pages.route_handlers]
