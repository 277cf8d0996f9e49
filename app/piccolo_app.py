"""Piccolo app of app/: users, sessions, the login throttle and the audit trail."""

from kit.db import app_config

APP_CONFIG = app_config("app", __file__)
