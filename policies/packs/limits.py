"""Bounds on what an officer sends as a pack: its size, its YAML (no anchors or aliases, bounded nesting and node
count, checked while the YAML is composed, before any Python object is built) and the data of each policy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml

from kit.i18n import _l
from policies.schemas import PackProblem

MAX_PACK_BYTES = 1024 * 1024
MAX_DEPTH = 32  # a pack nests about 9 levels (policies, a test, its profile, a list field)
MAX_NODES = 50_000  # 100,000 took 2.2 s and 90 MB to compose; a pack of 200 policies has some 20,000
MAX_CLAUSES = 100  # SQL joins a policy's clauses with OR: SQLite refuses an expression 1,000 levels deep
MAX_TESTS = 200
MAX_YUAN = Decimal("1e15")  # an amount in fen then fits a 64-bit integer column with room to add
NUL_HINT = _l("remove the invisible character (a NUL, \\x00, or a YAML escape \\0 that stands for one)")


class PackLimit(Exception):
    """A pack over one of the bounds; carries the problem that refuses it."""

    def __init__(self, problem: PackProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem

    @classmethod
    def at(cls, line: int | None, message: str, hint: str, **params: Any) -> PackLimit:
        """A problem from a catalog message (kit.i18n._l) and its parameters."""
        return cls(PackProblem.of(message, params, hint=hint, line=line))


def check_text(text: str) -> None:
    """Refuse a pack text over the size bound or holding a NUL character, before the YAML is read."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_PACK_BYTES:
        raise PackLimit.at(
            None,
            _l("the pack is {size} bytes; at most {max} are accepted"),
            _l("split it into several packs"),
            size=f"{size:,}",
            max=f"{MAX_PACK_BYTES:,}",
        )
    if "\x00" in text:
        at = text.index("\x00")
        raise PackLimit.at(text.count("\n", 0, at) + 1, _l("the pack holds a NUL character"), NUL_HINT)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (an alias repeats a subtree without its size showing in the
    text: 2 KB of them reach gigabytes), and counts nodes and nesting while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if getattr(event, "anchor", None) is not None:
            raise PackLimit.at(
                line,
                _l("YAML anchors and aliases (&name, *name, <<:) are not accepted in a pack"),
                _l("write the value out where it is used"),
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise PackLimit.at(
                line, _l("the pack has more than {max} values"), _l("split it into several packs"), max=f"{MAX_NODES:,}"
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise PackLimit.at(
                line,
                _l("the YAML nests more than {max} levels deep"),
                _l("a pack nests policies, clauses and tests a few levels deep; check the indentation"),
                max=MAX_DEPTH,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of one document, within the bounds (PackLimit) or raising yaml's own errors."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def construct(node: yaml.Node) -> Any:
    """The Python data of a composed document, as yaml.safe_load builds it (no second parse of the text)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except (ValueError, OverflowError) as exc:  # an unquoted date such as 2025-13-01: YAML reads it as a date
        raise PackLimit.at(
            None,
            _l("a date in the YAML is not a real date ({error})"),
            _l("write dates as YYYY-MM-DD with a real month and day"),
            error=exc,
        ) from None
    finally:
        loader.dispose()


def safe_load(text: str) -> Any:
    """yaml.safe_load within the bounds (PackLimit), for YAML an officer writes anywhere (the form's tests)."""
    check_text(text)
    node = compose(text)
    return construct(node) if node is not None else None


def data_problem(data: Any) -> tuple[tuple, str, dict[str, Any], str] | None:
    """(path, message, its parameters, hint) of the first bound a policy's data breaks (posted as JSON it was not composed here):
    nesting, size, a NUL character in a key or a text. Iterative: data of any depth is measured without recursion."""
    nodes = 0
    stack: list[tuple[Any, tuple]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        nodes += 1
        if len(path) >= MAX_DEPTH:
            return (
                path[:MAX_DEPTH],
                _l("the policy nests more than {max} levels deep"),
                {"max": MAX_DEPTH},
                _l("check the nesting"),
            )
        if nodes > MAX_NODES:
            return (
                (),
                _l("the policy has more than {max} values"),
                {"max": f"{MAX_NODES:,}"},
                _l("split it into several policies"),
            )
        if isinstance(value, str) and "\x00" in value:
            return path, _l("a text holds a NUL character"), {}, NUL_HINT
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and "\x00" in k:
                    return path, _l("a key holds a NUL character"), {}, NUL_HINT
                stack.append((v, path + (k,)))
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    return None
