"""One page of a list and the walk over a whole list in chunks: what every staff list and every export shares.

A list is asked for as a ``PageRequest`` (page, size, a sort key from the list's own ``Sorts``, a search text); the
database does the counting, ordering and limiting (``fetch_page``), never Python over every row. An export walks the
same filtered rows in id order, a chunk at a time (``chunks``), so no table is ever held in memory whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from piccolo.columns import Column
from piccolo.table import Table

from kit.errors import AppError
from kit.i18n import _l

T = TypeVar("T")

# Rows fetched per statement when a whole list is walked (exports): small enough to keep memory flat, large enough
# that the statements' own cost stays small.
CHUNK = 1000


class BadPageRequest(AppError):
    """A sort key the list does not have."""

    status = 400


@dataclass(frozen=True)
class PageRequest:
    """Which page of a list: 1-based ``page``, ``size`` rows, ``sort`` a key of the list (``-`` first: descending),
    ``q`` the search text ("" for none). Bounds are the HTTP layer's (app/bounds.py); here only their meaning."""

    page: int = 1
    size: int = 50
    sort: str = ""
    q: str = ""
    start: int | None = None  # an explicit offset (the older limit/offset parameters), instead of the page's

    @property
    def offset(self) -> int:
        return self.start if self.start is not None else (self.page - 1) * self.size

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")


@dataclass(frozen=True)
class Sorts:
    """The sort keys a list offers, each to what it orders by (a Piccolo column, or SQL text for raw statements),
    and the default (``-key`` for descending). Ties are broken by the row id, in the same direction."""

    keys: Mapping[str, Any]
    default: str

    def check(self, sort: str) -> str:
        """``sort`` if the list has it ("" → the default); refused (400) otherwise."""
        if not sort:
            return self.default
        if sort.lstrip("-") not in self.keys or sort.count("-") > 1:
            raise BadPageRequest(
                _l("无法按“{sort}”排序，可用：{keys} / cannot sort by {sort_repr}"),
                detail={"sort": sorted(self.keys)},
                sort=sort[:40],
                keys=", ".join(sorted(self.keys)),
                sort_repr=repr(sort[:40]),
            )
        return sort

    def resolve(self, request: PageRequest) -> tuple[Any, bool]:
        """(what to order by, descending) for a request whose sort is already checked."""
        sort = self.check(request.sort)
        return self.keys[sort.lstrip("-")], sort.startswith("-")


@dataclass
class Page(Generic[T]):
    """One page of a list and the list's total: ``items`` are the rows of page ``page`` of ``size``."""

    items: list[T]
    total: int
    page: int
    size: int
    sort: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size)) if self.size else 1

    def map(self, fn: Any) -> Page[Any]:
        return Page([fn(i) for i in self.items], self.total, self.page, self.size, self.sort, self.extra)


def like_pattern(q: str) -> str:
    """``%q%`` with LIKE's own characters escaped (use with ``ESCAPE '\\'``), lower-cased for LOWER(column)."""
    escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(q: str, *columns: Column) -> Any:
    """A WHERE condition: some of ``columns`` contains ``q`` (ASCII case folded on both databases), or None. Piccolo's
    LIKE has no ESCAPE, so ``%`` and ``_`` in ``q`` are dropped rather than read as wildcards."""
    q = q.strip()
    if not q:
        return None
    condition: Any = None
    for c in columns:
        one = c.ilike(f"%{q.replace('%', '').replace('_', '')}%")
        condition = one if condition is None else condition | one
    return condition


async def fetch_page(
    table: type[Table],
    where: Sequence[Any],
    request: PageRequest,
    sorts: Sorts,
    columns: Sequence[Column] = (),
) -> Page[dict[str, Any]]:
    """The request's page of ``table``'s rows meeting every condition of ``where`` (None entries are skipped),
    counted and limited by the database."""
    conditions = [w for w in where if w is not None]
    column, descending = sorts.resolve(request)
    select = table.select(*columns)
    count = table.count()
    if conditions:
        select = select.where(*conditions)
        count = count.where(*conditions)
    total = await count
    rows = (
        await select.order_by(column, ascending=not descending)
        .order_by(table._meta.primary_key, ascending=not descending)
        .limit(request.size)
        .offset(request.offset)
    )
    return Page(rows, total, request.page, request.size, sorts.check(request.sort))


async def chunks(
    table: type[Table], where: Sequence[Any], columns: Sequence[Column] = (), size: int = CHUNK
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every row of ``table`` meeting ``where``, in id order, ``size`` at a time (keyset: each statement starts after
    the last id seen, so a late chunk costs what the first does)."""
    conditions = [w for w in where if w is not None]
    pk = table._meta.primary_key
    if columns and all(c._meta.name != pk._meta.name for c in columns):
        columns = [pk, *columns]
    after: Any = None
    while True:
        select = table.select(*columns)
        current = [*conditions, pk > after] if after is not None else conditions
        if current:
            select = select.where(*current)
        rows = await select.order_by(pk).limit(size)
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        after = rows[-1][pk._meta.name]
