"""Piccolo app of payments/: entitlements, batches, payments, ledger, receipts, reconciliation."""

from kit.db import app_config

APP_CONFIG = app_config("payments", __file__)
