"""The paging parameters every list takes (page, size, sort, q), checked once, and the pager a page shows under it.

A list's handler declares ``dependencies={"paging": paging(SORTS)}`` and receives a checked ``kit.paging.PageRequest``:
``page`` and ``size`` within app/bounds.py's bounds (a 400 naming the parameter otherwise), ``sort`` one of the
list's keys (a 400 listing them otherwise), ``q`` trimmed and cut to 100 characters. Templates include ``_pager.html``
with a ``pager`` (``pager_of``): the total ("共 797 笔，第 1/8 页"), links to the other pages keeping the filters, and
sortable column headers. A JSON list answers its page with the total in ``X-Total-Count`` (``paged_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.di import Provide

from app.bounds import check_bounded
from kit.paging import Page, PageRequest, Sorts

DEFAULT_SIZE = 50
# A JSON list without a size answers this many (the bound of app/bounds.py), the total in X-Total-Count: a client
# that read the whole list before reads it whole while it stays below that, and learns when it does not.
API_SIZE = 500
SEARCH_MAX = 100


def paging(sorts: Sorts, *, size: int = DEFAULT_SIZE) -> Provide:
    """The dependency giving a handler its checked PageRequest (``size`` rows a page unless asked otherwise)."""

    def provide(page: int = 1, size: int = size, sort: str = "", q: str = "") -> PageRequest:
        check_bounded("page", page)
        check_bounded("size", size)
        return PageRequest(page=page, size=size, sort=sorts.check(sort.strip()), q=q.strip()[:SEARCH_MAX])

    return Provide(provide, sync_to_thread=False)


@dataclass(frozen=True)
class Pager:
    """What ``_pager.html`` shows: the page's place in the list and links that keep the list's filters."""

    total: int
    page: int
    pages: int
    size: int
    sort: str
    unit: tuple[str, str]
    path: str
    params: Mapping[str, str]

    def link(self, page: int, **changes: Any) -> str:
        values = {**self.params, "page": str(page), "size": str(self.size), "sort": self.sort, **changes}
        return self.path + "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def sort_link(self, key: str) -> str:
        """The header link sorting by ``key``: ascending first, descending when already ascending by it."""
        return self.link(1, sort=("-" + key) if self.sort == key else key)

    def sort_mark(self, key: str) -> str:
        return "▲" if self.sort == key else ("▼" if self.sort == "-" + key else "")

    def hidden(self) -> list[tuple[str, str]]:
        """The filters as (name, value) for the page-jump form's hidden inputs."""
        return [(k, v) for k, v in {**self.params, "size": str(self.size), "sort": self.sort}.items() if v]

    def export_link(self, path: str, fmt: str) -> str:
        """The list's download in ``fmt`` (csv | xlsx), with the same filters (in id order: an export walks the rows
        by id, a chunk at a time)."""
        values = {"format": fmt, **self.params}
        return path + "?" + urlencode({k: v for k, v in values.items() if v})


def pager_of(request: Request, page: Page[Any], unit: tuple[str, str], **filters: Any) -> Pager:
    """The pager of ``page`` on the request's path; ``filters`` are the list's other parameters (q included)."""
    params = {k: "" if v is None else str(v) for k, v in filters.items()}
    return Pager(page.total, page.page, page.pages, page.size, page.sort, unit, request.url.path, params)


def paged_json(page: Page[Any]) -> Response[list[Any]]:
    """A JSON list's page: the items as before, the list's total in ``X-Total-Count``."""
    return Response(page.items, headers={"x-total-count": str(page.total)})
