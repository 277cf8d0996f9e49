"""Errors of eligibility/: messages written for the officer or operator who reads them."""

from __future__ import annotations

from kit import errors
from kit.errors import AppError
from kit.i18n import FieldReasons, _l


class EligibilityError(AppError):
    """Base: ``message`` for a person, ``status`` for HTTP, ``detail`` structured and optional."""


class ProfileInvalid(EligibilityError, errors.Invalid):
    """A profile that fails validation; ``problems`` lists (field, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            _l("invalid profile: {problems}"),
            detail=[{"field": f, "reason": r} for f, r in problems],
            problems=FieldReasons((str(f), str(r)) for f, r in problems),
        )


class RuleInvalid(EligibilityError, errors.Invalid):
    """A rule set with problems (see ``detail``: RuleProblem dicts)."""


class NotInEffect(EligibilityError, errors.Conflict):
    """A rule set evaluated on a date outside its effective period."""


class ProfileNotFound(EligibilityError, errors.NotFound): ...


class FeedRefused(EligibilityError, errors.Unauthorized): ...
