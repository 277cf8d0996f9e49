"""Piccolo app of notifications/: notices and deliveries."""

from kit.db import app_config

APP_CONFIG = app_config("notifications", __file__)
