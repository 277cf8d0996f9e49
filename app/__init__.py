"""The Litestar app, configuration, database, auth and roles, audit trail, CLI, worker and web UI."""

import os

# Piccolo finds its configuration through this module path; set it before any table is imported so the
# installed `zhida` command works from any directory.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")

import logging

# Request URLs can carry subject ids (personal data): keep client libraries' per-request logs off.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)
