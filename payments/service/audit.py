"""The shape of an audit change that ``actor.record_many`` takes (payments/ never imports app/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AuditChange:
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    detail: dict | None = None
