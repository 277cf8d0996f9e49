"""Piccolo app of policies/: policies, versions, clauses, tests, budgets."""

from kit.db import app_config

APP_CONFIG = app_config("policies", __file__, "policies.tables", "policies.applications.tables")
