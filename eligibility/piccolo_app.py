"""Piccolo app of eligibility/: profiles, matches."""

from kit.db import app_config

APP_CONFIG = app_config("eligibility", __file__)
