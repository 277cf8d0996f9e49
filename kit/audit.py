"""The shapes of the audit trail that every domain uses: a ``Change`` to record and the ``Actor`` that records it.

Domains never import the trail itself (app/audit.py): a service receives an actor and calls
``await actor.record(...)`` inside its own transaction, so the entry commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass
class Change:
    """One audited state change: what was done (``action``) to which object, with its state before and after."""

    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    detail: dict | None = None


@runtime_checkable
class Actor(Protocol):
    """Who acts (user name and role), as services receive it; it records what it changes."""

    name: str
    role: str

    async def record(
        self,
        action: str,
        entity: str,
        entity_id: Any,
        before: Any = None,
        after: Any = None,
        detail: dict | None = None,
    ) -> None: ...

    async def record_many(self, changes: Iterable[Change]) -> None: ...
