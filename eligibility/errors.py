"""Errors of eligibility/: messages written for the officer or operator who reads them."""

from __future__ import annotations

from kit.errors import AppError


class EligibilityError(AppError):
    """Base: ``message`` for a person, ``status`` for HTTP, ``detail`` structured and optional."""


class ProfileInvalid(EligibilityError):
    """A profile that fails validation; ``problems`` lists (field, reason)."""

    status = 422

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{f}: {r}" for f, r in problems)
        super().__init__(f"invalid profile: {text}", detail=[{"field": f, "reason": r} for f, r in problems])


class RuleInvalid(EligibilityError):
    """A rule set with problems (see ``detail``: RuleProblem dicts)."""

    status = 422


class NotInEffect(EligibilityError):
    """A rule set evaluated on a date outside its effective period."""

    status = 409


class ProfileNotFound(EligibilityError):
    status = 404


class FeedRefused(EligibilityError):
    status = 401
