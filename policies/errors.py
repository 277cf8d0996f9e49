"""Errors of policies/: each carries a message for the person who reads it, an HTTP status and detail."""

from __future__ import annotations

from kit import errors
from kit.errors import AppError


class PolicyError(AppError):
    """Base of every policies/ error (the CLI turns it into exit 1, the web app into {"error", "detail"})."""


class PolicyNotFound(PolicyError, errors.NotFound): ...


class NotAllowed(PolicyError, errors.Forbidden):
    """The actor's role or relation to the version forbids the step (author publishing own draft, …)."""


class VersionLocked(PolicyError, errors.Conflict):
    """A version that left draft is immutable: a change is a new version."""


class LifecycleError(PolicyError, errors.InvalidState):
    """The step does not apply to the version's current status."""


class PackRefused(PolicyError, errors.Invalid):
    """A pack (YAML or form) refused as a whole; ``problems`` lists every problem found."""

    def __init__(self, problems: list, source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        n = len(problems)
        lines = [f"{head}refused, {n} problem{'s' if n != 1 else ''} (nothing was stored):"]
        lines += ["  " + p.describe().replace("\n", "\n  ") for p in problems]
        super().__init__("\n".join(lines), detail=[p.model_dump(mode="json") for p in problems])


class TestsFailed(PolicyError, errors.Conflict):
    """A draft whose own tests fail cannot be published."""

    __test__ = False  # not a pytest class


class TestsMissing(PolicyError, errors.Conflict):
    """A version without a test where each clause pays and one where the policy does not pay is not published."""

    __test__ = False  # not a pytest class


class PublicationRefused(PolicyError, errors.Conflict):
    """The version cannot be published as it stands: its period has ended, or it needs a confirmation (a budget
    shortfall) that was not given."""
