"""Shapes of the policies API that app/ assembles (lists, a policy with its versions, the editor's check)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.schemas.base import OmitsNone
from policies.schemas import VersionRead


class PolicySummaryRead(BaseModel):
    """One line of the officer's list: a policy's latest version, and the number of its published one."""

    id: int
    code: str
    number: int
    status: str
    title: str
    issuer: str
    subject: str
    mode: str
    budget_fen: int
    budget: str
    author: str
    created_at: dt.datetime
    exclusive_group: str | None = None
    latest_version_id: int
    published_number: int | None = None


class VersionSummaryRead(BaseModel):
    """A version without its content."""

    id: int
    code: str
    number: int
    status: str
    author: str
    reviewer: str | None = None
    created_at: dt.datetime
    published_at: dt.datetime | None = None
    status_reason: str = ""


class PolicyRead(BaseModel):
    """Every version of a policy, newest first, and the latest one in full."""

    code: str
    versions: list[VersionSummaryRead]
    latest: VersionRead


class PackLoadRead(BaseModel):
    """One policy of a loaded pack: the version it became and what happened (created, updated, unchanged…)."""

    code: str
    number: int
    id: int
    status: str
    outcome: str


class ExpressionProblemRead(OmitsNone):
    omit_when_none = ("expression",)

    message: str
    hint: str | None = None
    position: int | None = None
    expression: str | None = None


class ExpressionCheckRead(OmitsNone):
    """The rule editor's live check of one expression: its problems, and for a clean condition how many match
    (``count_withheld`` says why no count is given: the condition reads personal fields, or fewer than 10 subjects
    match; ``as_of_pinned`` that a condition over age was counted as of today, whatever ``as_of`` said)."""

    omit_when_none = ("count_withheld", "as_of_pinned")

    ok: bool
    problems: list[ExpressionProblemRead]
    matched: int | None = None
    count_withheld: str | None = None
    as_of_pinned: str | None = None


class VersionDiffRead(BaseModel):
    """One item the version changes in the published version's text."""

    item: str
    before: str
    after: str
    zh: str = Field("", description="the change in words, in Chinese (预算由 … 元改为 … 元)")
    en: str = Field("", description="the change in words, in English")
