"""Winners and losers of a new version: the impact preview's shadow run set against the published version's.

Both sides come from the preview's own evaluation (``preview._matches``: eligibility's SQL push-down matcher with
``store=False``), so nothing is written here either: the comparison is a read."""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from decimal import Decimal

from eligibility.service import regions_of
from kit.masking import mask_id_number, mask_name
from kit.vocab import SubjectKind
from policies.schemas import WinnerLoser, WinnerLoserGroup, WinnersLosers

SHOWN_PER_GROUP = 50  # the page lists this many of each group (the largest differences first); the export has all
GROUPS = ("winners", "losers", "changed")
Line = tuple[str, Decimal | None, Decimal | None]  # (subject id, before, after)


def shown_id(kind: str, subject_id: str) -> str:
    """A subject id as the policy tools show it: a talent's ID number masked, an enterprise's credit code whole."""
    return mask_id_number(subject_id) if kind == SubjectKind.TALENT else subject_id


def shown_name(kind: str, name: str) -> str:
    """A subject's name as the policy tools show it: a person's (a talent's) masked, an enterprise's whole."""
    return mask_name(name) if kind == SubjectKind.TALENT else name


def _difference(before: Decimal | None, after: Decimal | None) -> Decimal:
    return (after or Decimal("0.00")) - (before or Decimal("0.00"))


def _order(x: Line) -> tuple[Decimal, str]:
    return -abs(_difference(x[1], x[2])), x[0]


def split(mine: dict[str, Decimal], theirs: dict[str, Decimal]) -> tuple[dict[str, list[Line]], int]:
    """({group: [(subject id, before, after)], in no order}, how many are unchanged)."""
    both = mine.keys() & theirs.keys()
    groups: dict[str, list[Line]] = {
        "winners": [(s, None, mine[s]) for s in mine.keys() - theirs.keys()],
        "losers": [(s, theirs[s], None) for s in theirs.keys() - mine.keys()],
        "changed": [(s, theirs[s], mine[s]) for s in both if mine[s] != theirs[s]],
    }
    return groups, len(both) - len(groups["changed"])


async def winners_losers(kind: str, mine: dict[str, Decimal], theirs: dict[str, Decimal]) -> WinnersLosers:
    """The comparison the page shows: each group's count and totals, and its first SHOWN_PER_GROUP subjects (largest
    difference first, then by id) masked."""
    groups, unchanged = split(mine, theirs)
    first = {g: heapq.nsmallest(SHOWN_PER_GROUP, lines, key=_order) for g, lines in groups.items()}
    named = await regions_of(kind, sorted({s for lines in first.values() for s, _, _ in lines}))
    out = {}
    for g, lines in groups.items():
        before = sum((b for _, b, _ in lines if b is not None), Decimal("0.00"))
        after = sum((a for _, _, a in lines if a is not None), Decimal("0.00"))
        out[g] = WinnerLoserGroup(
            count=len(lines),
            total_before=before,
            total_after=after,
            difference=after - before,
            subjects=[
                WinnerLoser(
                    subject_id=shown_id(kind, s),
                    name=shown_name(kind, named.get(s, ("", ""))[1]),
                    region_code=named.get(s, ("", ""))[0],
                    before=b,
                    after=a,
                    difference=_difference(b, a),
                )
                for s, b, a in first[g]
            ],
        )
    net = sum((out[g].difference for g in GROUPS), Decimal("0.00"))
    return WinnersLosers(**out, unchanged=unchanged, net_change=net)


async def winners_losers_chunks(
    kind: str, mine: dict[str, Decimal], theirs: dict[str, Decimal], size: int = 1000
) -> AsyncIterator[list[dict]]:
    """Every winner, loser and changed amount (in the page's order), ``size`` at a time with its region and name (read per chunk), for an
    export: ids and names are raw here, the export's columns mask them (app/exports.MASKED)."""
    groups, _ = split(mine, theirs)
    for g in GROUPS:
        lines = sorted(groups[g], key=_order)
        for i in range(0, len(lines), size):
            part = lines[i : i + size]
            named = await regions_of(kind, [s for s, _, _ in part])
            yield [
                {
                    "group": g,
                    "subject_kind": kind,
                    "subject_id": s,
                    "name": named.get(s, ("", ""))[1],
                    "region_code": named.get(s, ("", ""))[0],
                    "before": b,
                    "after": a,
                    "difference": _difference(b, a),
                }
                for s, b, a in part
            ]
