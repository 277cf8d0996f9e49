"""What app/ connects between domains that may not import each other (the layers: payments → policies)."""

from __future__ import annotations


def wire() -> None:
    """The publication preview of policies/ tells what payments already paid under earlier versions."""
    from payments import service as payments
    from policies import service as policies

    policies.set_prior_lookup(payments.prior_payments)
