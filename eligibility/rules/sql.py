"""Rule-engine AST -> SQL WHERE (SQLite and PostgreSQL), with the three-valued semantics of evaluate.py.

Numbers are compiled with a scale (the SQL value is the rule value times the scale: money columns
hold fen, scale 100) so comparisons and + - stay exact integer arithmetic in both databases.
Anything that would not be exact or identical in SQL raises NotCompilable with the construct, and
the matcher falls back to rule-engine per profile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from decimal import Decimal
from typing import Any

from rule_engine import DataType
from rule_engine import ast as rast

from eligibility import store
from eligibility.fields import BOOL, DATE, ENUM, INT, LIST, MONEY, STRING, rule_fields
from eligibility.rules.language import parse, symbols, unparse
from eligibility.store import RULE_INDEX, SQLITE_CACHE_KIB, column_of


class NotCompilable(Exception):
    """The rule uses a construct the SQL compiler does not cover; the message names it."""


_CMP = {"eq": "=", "ne": "<>", "ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
# A regular expression that means the same to Python's re and PostgreSQL's ARE.
_SAFE_REGEX = re.compile(r"^[\w\u4e00-\u9fff^$.*+?|()\[\]\-]*$")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _num_text(d: Decimal) -> str:
    text = format(d, "f")
    return text


class Compiler:
    def __init__(self, kind: str, as_of: dt.date, pg: bool) -> None:
        self.kind = kind
        self.fields = rule_fields(kind)
        self.as_of = as_of
        self.pg = pg
        self.nullable = {n for n, f in self.fields.items() if not f.required} | (
            {"years_since_graduation"} if kind == "talent" else set()
        )

    # -- booleans (three-valued) -------------------------------------------------------------
    def boolean(self, node: Any) -> str:
        if isinstance(node, rast.LogicExpression):
            op = "AND" if node.type == "and" else "OR"
            return f"({self.boolean(node.left)} {op} {self.boolean(node.right)})"
        if isinstance(node, rast.UnaryExpression) and node.type == "not":
            return f"(NOT {self.boolean(node.right)})"
        if isinstance(node, rast.TernaryExpression) and node.result_type == DataType.BOOLEAN:
            # unknown condition -> false branch, exactly like evaluate.truth
            return (
                f"(CASE WHEN {self.boolean(node.condition)} THEN {self.boolean(node.case_true)} "
                f"ELSE {self.boolean(node.case_false)} END)"
            )
        return self.condition(node)

    def condition(self, node: Any) -> str:
        sql = self._condition(node)
        # A condition that needs a missing value is unknown (NULL). Plain comparisons propagate NULL by
        # themselves; CASE and functions do not, so guard those explicitly.
        if _has(node, (rast.TernaryExpression, rast.FunctionCallExpression)):
            names = sorted(n for n in symbols(node) if n in self.nullable)
            if names:
                test = " OR ".join(f"{self.symbol_sql(n)} IS NULL" for n in names)
                sql = f"(CASE WHEN {test} THEN NULL ELSE {sql} END)"
        return sql

    def _condition(self, node: Any) -> str:
        if isinstance(node, rast.BooleanExpression):
            return self.bool_literal(node.value)
        if isinstance(node, rast.SymbolExpression):
            f = self._field(node)
            if f.type != BOOL:
                raise NotCompilable(f"'{node.name}' used as a condition")
            col = self.symbol_sql(node.name)
            return col if self.pg else f"({col} = 1)"
        if isinstance(node, rast.FuzzyComparisonExpression):
            return self.regex(node)
        if isinstance(node, rast.ComparisonExpression):
            return self.comparison(node)
        if isinstance(node, rast.ContainsExpression):
            return self.contains(node)
        raise NotCompilable(f"the condition {unparse(node)}")

    def bool_literal(self, v: bool) -> str:
        if self.pg:
            return "TRUE" if v else "FALSE"
        return "1" if v else "0"

    def _field(self, node: Any):
        f = self.fields.get(node.name)
        if f is None or node.scope is not None:
            raise NotCompilable(f"the name {node.name}")
        return f

    # -- values ---------------------------------------------------------------------------
    def kind_of(self, node: Any) -> str:
        t = node.result_type
        if t == DataType.FLOAT:
            return "number"
        if t == DataType.STRING:
            return "string"
        if t == DataType.BOOLEAN:
            return "bool"
        if t == DataType.DATETIME:
            return "date"
        return "other"

    def symbol_sql(self, name: str) -> str:
        y, m, d = self.as_of.year, self.as_of.month, self.as_of.day
        md = m * 100 + d
        if name in ("age", "years_since_founded", "years_since_graduation"):
            col = {
                "age": "birth_on_ymd",
                "years_since_founded": "founded_on_ymd",
                "years_since_graduation": "graduated_on_ymd",
            }[name]
            return f"(({y} - {col} / 10000) - (CASE WHEN {col} % 10000 > {md} THEN 1 ELSE 0 END))"
        if name == "months_since_arrival":
            col = "arrived_on_ymd"
            return (
                f"((12 * ({y} - {col} / 10000) + ({m} - {col} / 100 % 100)) - "
                f"(CASE WHEN {col} % 100 > {d} THEN 1 ELSE 0 END))"
            )
        return column_of(self.kind, name)

    def number(self, node: Any) -> tuple[str, int, Decimal | None]:
        """(sql, scale, literal value or None)."""
        if isinstance(node, rast.FloatExpression):
            return _num_text(node.value), 1, node.value
        if isinstance(node, rast.SymbolExpression):
            f = self._field(node)
            if f.type not in (INT, MONEY):
                raise NotCompilable(f"'{node.name}' as a number")
            return self.symbol_sql(node.name), (100 if f.type == MONEY else 1), None
        if isinstance(node, rast.UnaryExpression) and node.type == "uminus":
            sql, scale, lit = self.number(node.right)
            return f"(-{sql})", scale, (-lit if lit is not None else None)
        if isinstance(node, (rast.AddExpression, rast.SubtractExpression)):
            (a, b), scale = self.common(self.number(node.left), self.number(node.right))
            op = "+" if node.type == "add" else "-"
            return f"({a} {op} {b})", scale, None
        if isinstance(node, rast.ArithmeticExpression) and node.type == "mul":
            # A fractional literal becomes an integer with a scale (0.015 -> 15 / 1000): exact in both databases.
            a, sa, la = self._integral(*self.number(node.left))
            b, sb, lb = self._integral(*self.number(node.right))
            return f"({a} * {b})", sa * sb, None
        if isinstance(node, rast.ArithmeticExpression):
            raise NotCompilable(f"the arithmetic {unparse(node)} (only + - * are exact in SQL)")
        if isinstance(node, rast.FunctionCallExpression):
            name = getattr(node.function, "name", "")
            if (
                name in ("min", "max")
                and len(node.arguments) == 1
                and isinstance(node.arguments[0], rast.ArrayExpression)
            ):
                parts = [self.number(m) for m in node.arguments[0].value]
                if not parts:
                    raise NotCompilable("an empty list")
                sqls, scale = self.common(*parts)
                fn = ({"min": "LEAST", "max": "GREATEST"} if self.pg else {"min": "MIN", "max": "MAX"})[name]
                if len(sqls) == 1:
                    return sqls[0], scale, None
                return f"{fn}({', '.join(sqls)})", scale, None
            if name == "abs" and len(node.arguments) == 1:
                sql, scale, _ = self.number(node.arguments[0])
                return f"ABS({sql})", scale, None
            raise NotCompilable(f"the function ${name}")
        if isinstance(node, rast.TernaryExpression):
            cond = self.boolean(node.condition)
            (a, b), scale = self.common(self.number(node.case_true), self.number(node.case_false))
            return f"(CASE WHEN {cond} THEN {a} ELSE {b} END)", scale, None
        raise NotCompilable(f"the value {unparse(node)}")

    @staticmethod
    def _integral(sql: str, scale: int, lit: Decimal | None) -> tuple[str, int, Decimal | None]:
        if lit is None or lit == lit.to_integral_value():
            return sql, scale, lit
        exp = -lit.as_tuple().exponent
        if exp > 6:
            raise NotCompilable(f"the literal {lit} (too many decimals for exact SQL)")
        return str(int(lit * 10**exp)), scale * 10**exp, None

    def common(self, *parts: tuple[str, int, Decimal | None]) -> tuple[list[str], int]:
        scale = max(p[1] for p in parts)
        out = []
        for sql, s, lit in parts:
            if s == scale:
                out.append(sql)
            elif lit is not None:
                out.append(_num_text(lit * scale))
            else:
                out.append(f"({sql} * {scale // s})")
        return out, scale

    def scalar(self, node: Any, kind: str) -> str:
        if kind == "number":
            raise AssertionError
        if isinstance(node, rast.StringExpression):
            return _sql_str(node.value)
        if isinstance(node, rast.BooleanExpression):
            return self.bool_literal(node.value)
        if isinstance(node, rast.DatetimeExpression):
            v = node.value.astimezone(dt.UTC)
            if (v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0):
                raise NotCompilable(f"the date-time {v.isoformat()} (dates are whole days)")
            return str(v.year * 10000 + v.month * 100 + v.day)
        if isinstance(node, rast.SymbolExpression):
            f = self._field(node)
            if (
                (kind == "string" and f.type in (STRING, ENUM))
                or (kind == "bool" and f.type == BOOL)
                or (kind == "date" and f.type == DATE)
            ):
                return self.symbol_sql(node.name)
        raise NotCompilable(f"the {kind} value {unparse(node)}")

    def comparison(self, node: Any) -> str:
        kl, kr = self.kind_of(node.left), self.kind_of(node.right)
        op = _CMP.get(node.type)
        if op is None or kl != kr:
            raise NotCompilable(f"the comparison {unparse(node)}")
        if kl == "number":
            (a, b), _ = self.common(self.number(node.left), self.number(node.right))
            return f"({a} {op} {b})"
        if kl in ("string", "date") or (kl == "bool" and op in ("=", "<>")):
            a, b = self.scalar(node.left, kl), self.scalar(node.right, kl)
            if kl == "string" and self.pg and op not in ("=", "<>"):
                return f'({a} COLLATE "C" {op} {b} COLLATE "C")'
            return f"({a} {op} {b})"
        raise NotCompilable(f"the comparison {unparse(node)}")

    def regex(self, node: Any) -> str:
        if not isinstance(node.right, rast.StringExpression):
            raise NotCompilable("a pattern that is not a literal")
        left = self.scalar(node.left, "string")
        pattern = node.right.value
        anchored = node.type.endswith("fzm")
        positive = node.type.startswith("eq")
        body = _literal_prefix(node)
        if body is not None:
            # A literal prefix (the usual region or industry test): plain string comparison, no regex call.
            test = f"(substr({left}, 1, {len(body)}) = {_sql_str(body)})"
            return test if positive else f"(NOT {test})"
        if self.pg:
            if not _SAFE_REGEX.match(pattern.replace("\\d", "")):
                raise NotCompilable(f"the regular expression {pattern!r} (only a portable subset is pushed down)")
            pat = f"^(?:{pattern})" if anchored else pattern
            return f"({left} {'~' if positive else '!~'} {_sql_str(pat)})"
        fn = "zhida_re_match" if anchored else "zhida_re_search"
        test = f"{fn}({_sql_str(pattern)}, {left})"
        return f"({test} = {'1' if positive else '0'})"

    def contains(self, node: Any) -> str:
        container, member = node.container, node.member
        if isinstance(container, rast.ArrayExpression):
            values = list(container.value)
            if not values:
                return self.bool_literal(False)
            km = self.kind_of(member)
            if km == "number":
                parts = [self.number(member)] + [self.number(v) for v in values]
                sqls, _ = self.common(*parts)
                return f"({sqls[0]} IN ({', '.join(sqls[1:])}))"
            if km in ("string", "date"):
                if any(self.kind_of(v) != km for v in values):
                    raise NotCompilable(f"the list {unparse(container)}")
                return f"({self.scalar(member, km)} IN ({', '.join(self.scalar(v, km) for v in values)}))"
            raise NotCompilable(f"membership {unparse(node)}")
        if isinstance(container, rast.SymbolExpression) and self._field(container).type == LIST:
            m = self.scalar(member, "string")
            needle = (
                _sql_str(";" + member.value + ";")
                if isinstance(member, rast.StringExpression)
                else f"(';' || {m} || ';')"
            )
            col = self.symbol_sql(container.name)
            return f"({'strpos' if self.pg else 'instr'}({col}, {needle}) > 0)"
        if self.kind_of(container) == "string":
            c, m = self.scalar(container, "string"), self.scalar(member, "string")
            return f"({'strpos' if self.pg else 'instr'}({c}, {m}) > 0)"
        raise NotCompilable(f"membership {unparse(node)}")


def _literal_prefix(node: Any) -> str | None:
    """The prefix a regex comparison tests, when its pattern is an anchored literal ("^3601"), else None."""
    pattern = node.right.value
    body = pattern[1:] if pattern.startswith("^") else pattern
    if (node.type.endswith("fzm") or pattern.startswith("^")) and body and not re.search(r"[.^$*+?{}\[\]\\|()]", body):
        return body
    return None


def _has(node: Any, types: tuple) -> bool:
    from eligibility.rules.language import children

    if isinstance(node, types):
        return True
    return any(_has(c, types) for c in children(node))


def compile_where(kind: str, text: str, as_of: dt.date, pg: bool) -> str:
    """The SQL boolean (NULL = unknown) of a rule's `when` for the profiles table of ``kind``."""
    return Compiler(kind, as_of, pg).boolean(parse(kind, text))


def _re_match(pattern: str, text: str | None):
    if text is None or pattern is None:
        return None
    return 1 if _compiled(pattern).match(text) else 0


def _re_search(pattern: str, text: str | None):
    if text is None or pattern is None:
        return None
    return 1 if _compiled(pattern).search(text) else 0


_RE_CACHE: dict[str, re.Pattern] = {}


def _compiled(pattern: str) -> re.Pattern:
    p = _RE_CACHE.get(pattern)
    if p is None:
        p = _RE_CACHE[pattern] = re.compile(pattern)
    return p


async def _prepare_sqlite(conn) -> None:
    """SQLite: a big page cache and the file mapped (the matcher scans every profile), and the functions compiled
    rules and match storage call (regular expressions, SHA-256)."""
    await conn.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    await conn.execute("PRAGMA mmap_size = 4294967296")
    await conn.create_function("zhida_re_match", 2, _re_match, deterministic=True)
    await conn.create_function("zhida_re_search", 2, _re_search, deterministic=True)
    await conn.create_function("zhida_sha256", 1, _sha256_hex, deterministic=True)
    await conn.create_function("zhida_amount_overflow", 0, _amount_overflow, deterministic=True)


@contextlib.asynccontextmanager
async def read_connection(engine):
    """A connection for the matcher's queries (SQLite gets our regex functions registered on it)."""
    if engine.engine_type == "postgres":
        if engine.pool is not None:
            async with engine.pool.acquire() as conn:
                yield conn
        else:
            conn = await engine.get_new_connection()
            try:
                yield conn
            finally:
                await conn.close()
        return
    conn = await engine.get_connection()
    try:
        await _prepare_sqlite(conn)
        yield conn
    finally:
        await conn.close()


def _and_terms(node: Any) -> list:
    if isinstance(node, rast.LogicExpression) and node.type == "and":
        return _and_terms(node.left) + _and_terms(node.right)
    return [node]


def _cost(node: Any) -> float:
    """A rough per-row cost of a condition, in comparisons, to order a filter's terms."""
    from eligibility.rules.language import children

    own = 1.0
    if isinstance(node, rast.FuzzyComparisonExpression):
        own = 4 if isinstance(node.right, rast.StringExpression) and _literal_prefix(node) is not None else 30
    elif isinstance(node, rast.ContainsExpression):
        own = 2 + (len(node.container.value) if isinstance(node.container, rast.ArrayExpression) else 2)
    elif isinstance(node, rast.FunctionCallExpression):
        own = 3
    return own + sum(_cost(c) for c in children(node))


# A bound on a number: (symbol, direction, strict, value) of `symbol >= value`, `symbol > value`, … ("==" bounds
# both ways).
_LOWER, _UPPER = {"ge": False, "gt": True}, {"le": False, "lt": True}


def _bounds(node: Any) -> list[tuple[str, str, bool, Decimal]]:
    """The bounds a condition `symbol <op> number` puts on its symbol (none for any other condition)."""
    if not (
        isinstance(node, rast.ComparisonExpression)
        and isinstance(node.left, rast.SymbolExpression)
        and isinstance(node.right, rast.FloatExpression)
    ):
        return []
    name, value, op = node.left.name, node.right.value, node.type
    if not value.is_finite():  # refused by the rule check; never a bound here
        return []
    if op == "eq":
        return [(name, "lower", False, value), (name, "upper", False, value)]
    if op in _LOWER:
        return [(name, "lower", _LOWER[op], value)]
    if op in _UPPER:
        return [(name, "upper", _UPPER[op], value)]
    return []


def _implies(a: Any, b: Any) -> bool:
    """Whether condition ``a`` being true makes ``b`` true: the same text, or a bound on the same number at least
    as tight (`x >= 3000000` implies `x >= 1000000`; `x == 5` implies `x > 4`)."""
    if unparse(a) == unparse(b):
        return True
    wanted = _bounds(b)
    if len(wanted) != 1:
        return False
    name, way, strict, v = wanted[0]
    for n, w, s, u in _bounds(a):
        if n == name and w == way:
            tighter = u > v if way == "lower" else u < v
            if tighter or (u == v and (s or not strict)):
                return True
    return False


def implied_conditions(nodes: list) -> list:
    """Conditions true of every profile that meets at least one of the clauses ``nodes``: each a top-level AND term
    of some clause that every clause implies (the weakest of the clauses' like bounds, or a term they share). As
    extra filter terms they change no result, since a row is kept only where the OR of the clauses is true, but a
    cheap one that rejects most profiles lets the database stop early (and PostgreSQL use an index on it): the
    typical policy of bench/match.py, `(high_tech and rd_expense >= 1000000) or (rd_expense >= 3000000 and …)`,
    gains `rd_expense >= 1000000`. The strongest of those that imply one another is kept."""
    conjuncts = [_and_terms(n) for n in nodes]
    found: list = []
    for cand in (t for terms in conjuncts for t in terms):
        if all(any(_implies(t, cand) for t in terms) for terms in conjuncts) and not any(
            _implies(f, cand) for f in found
        ):
            found = [f for f in found if not _implies(cand, f)] + [cand]
    return found


def compile_ruleset(ruleset, as_of: dt.date, pg: bool) -> tuple[list[tuple[str, float]], list[str]]:
    """(the filter's terms, one SQL boolean per clause). The filter is the AND of its terms, each (SQL, cost): the
    top-level AND terms of the policy-level `when`, the conditions every clause implies (implied_conditions), and
    the OR of the clauses (left out when one clause is all of it). Raises NotCompilable."""
    kind = ruleset.subject
    c = Compiler(kind, as_of, pg)
    terms = []
    nodes = [parse(kind, str(cl.when)) for cl in ruleset.clauses]
    implied = implied_conditions(nodes) if nodes else []
    terms += [(c.boolean(n), _cost(n)) for n in implied]
    if ruleset.when and str(ruleset.when).strip():
        terms += [(c.boolean(n), _cost(n)) for n in _and_terms(parse(kind, ruleset.when))]
    clauses = [c.boolean(n) for n in nodes]
    if not (len(nodes) == 1 and len(implied) == len(_and_terms(nodes[0]))):
        terms.append(
            ("(" + (" OR ".join(f"({sql})" for sql in clauses) or "1 = 0") + ")", sum(_cost(n) for n in nodes))
        )
    return terms, clauses


PROBE_CHUNKS, PROBE_ROWS = 16, 128


async def ordered_filter(conn, kind: str, terms: list[tuple[str, float]], pg: bool) -> str:
    """The AND of ``terms``, those likeliest to reject a profile for the least work first.

    SQLite evaluates a WHERE's terms in the order written and stops at the first false one, so on SQLite the order
    is the filter's speed (bench/match.py's typical policy over 1M profiles, through the rule index: 160 ms as written, 72 ms ordered). Each
    term's pass rate is counted on a sample (16 runs of 128 profiles spread over the table), and the terms are sorted
    by cost / (1 - pass rate), the order that minimises the expected work of independent terms. The order changes
    no result: AND is commutative in SQL's three-valued logic and every function we call is pure. PostgreSQL orders a
    WHERE's terms by its own cost estimates, so there they stay as written."""
    joined = " AND ".join(sql for sql, _ in terms)
    if pg or len(terms) < 2:
        return joined
    name = store.TABLES[kind]._meta.tablename
    # Two subqueries: SQLite answers a lone MIN or MAX of the rowid from the b-tree's ends, both at once by a scan.
    bounds = (
        await store.fetch(
            conn, f"SELECT (SELECT MIN(id) FROM {name}) AS lo, (SELECT MAX(id) FROM {name}) AS hi", [], False
        )
    )[0]
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return joined
    starts = sorted({lo + (hi - lo) * i // PROBE_CHUNKS for i in range(PROBE_CHUNKS)})
    sample = " UNION ALL ".join(
        f"SELECT * FROM (SELECT * FROM {name} WHERE id >= {s} ORDER BY id LIMIT {PROBE_ROWS})" for s in starts
    )
    sums = ", ".join(f"SUM(CASE WHEN {sql} THEN 1 ELSE 0 END) AS t{i}" for i, (sql, _) in enumerate(terms))
    got = (await store.fetch(conn, f"SELECT COUNT(*) AS n, {sums} FROM ({sample}) AS s", [], False))[0]
    n = got["n"] or 1

    def key(i: int) -> float:
        return terms[i][1] / max(1 - (got[f"t{i}"] or 0) / n, 0.001)

    return " AND ".join(terms[i][0] for i in sorted(range(len(terms)), key=key))


def rule_source(kind: str, cond: str, pg: bool, has_index: bool = True) -> str:
    """The FROM of a filter over the profiles of ``kind``. SQLite: the table through its rule index (store.RULE_INDEX)
    when the index exists and the filter reads no column outside it; the table row is then read only for the rows
    the filter keeps."""
    table = store.TABLES[kind]
    name = table._meta.tablename
    if pg or not has_index:
        return name
    index, covered = RULE_INDEX[kind]
    outside = {c._meta.db_column_name for c in table._meta.columns} - set(covered)
    if outside & set(re.findall(r"[a-z_]+", cond)):
        return name
    return f"{name} INDEXED BY {index}"


async def filter_query(conn, kind: str, terms: list[tuple[str, float]], pg: bool, select: str) -> str:
    """``SELECT {select}`` over the profiles of ``kind`` that the filter (``compile_ruleset``'s terms) keeps, as the
    matcher runs it (the bench times it)."""
    cond = await ordered_filter(conn, kind, terms, pg)
    has_index = True
    if not pg:  # INDEXED BY a missing index is an error (a database migrated back, or built without migrations)
        has_index = bool(
            await store.fetch(
                conn, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [RULE_INDEX[kind][0]], False
            )
        )
    return f"SELECT {select} FROM {rule_source(kind, cond, pg, has_index)} WHERE {cond}"


async def sql_path(ruleset, as_of: dt.date):
    """The database filters; amounts are computed for the matched rows only. Returns (found, total)."""
    from eligibility.fields import derived_values
    from eligibility.rules.closures import compile_value
    from eligibility.rules.evaluate import combine, to_fen_amount
    from eligibility.schemas import MatchResult

    kind = ruleset.subject
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    terms, clauses = compile_ruleset(ruleset, as_of, pg)
    flags = ", ".join(f"(CASE WHEN {c} THEN 1 ELSE 0 END) AS zc{i}" for i, c in enumerate(clauses))
    name = table._meta.tablename
    amounts = [compile_value(parse(kind, str(cl.amount))) for cl in ruleset.clauses]
    found = []
    async with read_connection(engine) as conn:
        rows = await store.fetch(conn, await filter_query(conn, kind, terms, pg, f"{name}.*, {flags}"), [], pg)
        rows.sort(key=lambda r: r["subject_id"])
        total_rows = await store.fetch(conn, f"SELECT COUNT(*) AS n FROM {name}", [], pg)
    first = ruleset.combine == "first"
    for row in rows:
        profile = store.from_row(kind, row)
        values = None
        met = []
        for i, cl in enumerate(ruleset.clauses):
            if row[f"zc{i}"]:
                if values is None:
                    values = {**profile, **derived_values(kind, profile, as_of)}
                met.append((cl.code, to_fen_amount(amounts[i](values))))
                if first:
                    break
        codes, amount = combine(ruleset, met)
        if codes:
            found.append((MatchResult(subject_id=row["subject_id"], clauses=codes, amount=amount), row["digest"]))
    return found, int(total_rows[0]["n"])


# -- amounts in SQL: exact integer arithmetic --------------------------------------------------------------


def _exact(c: Compiler, node: Any) -> tuple[str, int]:
    """(sql, scale) with sql == amount * scale exactly, in integers (no division, no float)."""
    if isinstance(node, rast.FloatExpression):
        d = node.value
        exp = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
        if exp > 6:
            raise NotCompilable(f"the amount literal {d} (too many decimals for exact SQL)")
        scale = 10**exp
        return str(int(d * scale)), scale
    if isinstance(node, rast.SymbolExpression):
        f = c._field(node)
        if f.type not in (INT, MONEY):
            raise NotCompilable(f"'{node.name}' in an amount")
        return c.symbol_sql(node.name), (100 if f.type == MONEY else 1)
    if isinstance(node, rast.UnaryExpression) and node.type == "uminus":
        sql, s = _exact(c, node.right)
        return f"(-{sql})", s
    if isinstance(node, (rast.AddExpression, rast.SubtractExpression)):
        (a, b), s = _common_exact([_exact(c, node.left), _exact(c, node.right)])
        return f"({a} {'+' if node.type == 'add' else '-'} {b})", s
    if isinstance(node, rast.ArithmeticExpression) and node.type == "mul":
        (a, sa), (b, sb) = _exact(c, node.left), _exact(c, node.right)
        return f"({a} * {b})", sa * sb
    if isinstance(node, rast.FunctionCallExpression):
        name = getattr(node.function, "name", "")
        if (
            name in ("min", "max")
            and len(node.arguments) == 1
            and isinstance(node.arguments[0], rast.ArrayExpression)
            and node.arguments[0].value
        ):
            sqls, s = _common_exact([_exact(c, m) for m in node.arguments[0].value])
            if len(sqls) == 1:
                return sqls[0], s
            fn = ({"min": "LEAST", "max": "GREATEST"} if c.pg else {"min": "MIN", "max": "MAX"})[name]
            return f"{fn}({', '.join(sqls)})", s
        raise NotCompilable(f"the function ${name} in an amount")
    if isinstance(node, rast.TernaryExpression):
        cond = c.boolean(node.condition)
        (a, b), s = _common_exact([_exact(c, node.case_true), _exact(c, node.case_false)])
        return f"(CASE WHEN {cond} THEN {a} ELSE {b} END)", s
    raise NotCompilable(f"the amount {unparse(node)}")


def _common_exact(parts: list[tuple[str, int]]) -> tuple[list[str], int]:
    scale = max(s for _, s in parts)
    return [sql if s == scale else f"({sql} * {scale // s})" for sql, s in parts], scale


def compile_amount_fen(c: Compiler, kind: str, text: str) -> str:
    """SQL of a clause amount in fen: half-up to the fen, floored at 0, 0 when it needs a missing value."""
    node = parse(kind, text)
    sql, scale = _exact(c, node)
    # scale is a power of ten. Above 100 the fen are sql / (scale / 100) rounded half up: for sql > 0 (the CASE
    # below), (sql + half) / (scale / 100) in integer division, with no factor that brings an overflow nearer.
    if scale == 1:
        fen = f"({sql}) * 100"
    elif scale == 10:
        fen = f"({sql}) * 10"
    elif scale == 100:
        fen = f"({sql})"
    else:
        fen = f"((({sql}) + {scale // 200}) / {scale // 100})"
    expr = f"(CASE WHEN ({sql}) <= 0 THEN 0 ELSE {fen} END)"
    names = sorted(n for n in symbols(node) if n in c.nullable)
    if names:
        test = " OR ".join(f"{c.symbol_sql(n)} IS NULL" for n in names)
        expr = f"(CASE WHEN {test} THEN 0 ELSE {expr} END)"
    return expr


def compile_outcome(ruleset, conds: list[str], as_of: dt.date, pg: bool) -> tuple[str, str]:
    """(clauses text expr, amount_fen expr) of the whole rule set, given its clauses' compiled conditions;
    raises NotCompilable."""
    c = Compiler(ruleset.subject, as_of, pg)
    kind = ruleset.subject
    amounts = [compile_amount_fen(c, kind, str(cl.amount)) for cl in ruleset.clauses]
    codes = [_sql_str(cl.code) for cl in ruleset.clauses]
    if ruleset.combine == "first":
        clauses = "(CASE " + " ".join(f"WHEN {w} THEN {code}" for w, code in zip(conds, codes)) + " END)"
        total = "(CASE " + " ".join(f"WHEN {w} THEN {a}" for w, a in zip(conds, amounts)) + " END)"
    else:
        clauses = (
            "rtrim("
            + " || ".join(f"(CASE WHEN {w} THEN {code[:-1]};' ELSE '' END)" for w, code in zip(conds, codes))
            + ", ';')"
        )
        total = "(" + " + ".join(f"(CASE WHEN {w} THEN {a} ELSE 0 END)" for w, a in zip(conds, amounts)) + ")"
    if ruleset.cap_per_subject is not None:
        from decimal import ROUND_HALF_UP

        cap = int((Decimal(ruleset.cap_per_subject) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        total = f"(CASE WHEN {total} > {cap} THEN {cap} ELSE {total} END)"
    if not pg:
        # SQLite turns an integer overflow into a float and carries on; an amount that is not an integer then stops
        # the statement (zhida_amount_overflow raises), and the matcher computes the amounts in Python instead.
        # PostgreSQL raises on overflow by itself.
        total = f"(CASE WHEN typeof({total}) = 'integer' THEN {total} ELSE zhida_amount_overflow() END)"
    return clauses, total


async def full_sql_path(ruleset, as_of: dt.date, *, do_store: bool, actor, rdigest: str, collect: bool = True):
    """_full_sql_path; an amount that overflows the database's integers raises NotCompilable (nothing is stored:
    the write transaction rolls back), so the matcher computes the amounts in Python."""
    try:
        return await _full_sql_path(ruleset, as_of, do_store=do_store, actor=actor, rdigest=rdigest, collect=collect)
    except Exception as exc:
        if _is_overflow(exc):
            raise NotCompilable(OVERFLOW) from None
        raise


async def _full_sql_path(ruleset, as_of: dt.date, *, do_store: bool, actor, rdigest: str, collect: bool = True):
    """Everything in the database: the rows and their amounts, and (when storing) one INSERT … SELECT … ON CONFLICT
    DO NOTHING with the match digests computed in SQL (PostgreSQL's sha256, a registered function on SQLite), so no
    match row passes through Python. ``collect=False`` returns no results, only their count and total (the job that
    matches a published version wants nothing else). Returns (results, total profiles, new, matched, total fen)."""
    from eligibility.schemas import MatchResult

    kind = ruleset.subject
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    terms, conds = compile_ruleset(ruleset, as_of, pg)
    clauses_sql, total_sql = compile_outcome(ruleset, conds, as_of, pg)
    name = table._meta.tablename
    select = f"subject_id, digest, {clauses_sql} AS zclauses, {total_sql} AS zamount"

    async def read(conn):
        inner = await filter_query(conn, kind, terms, pg, select)
        results: list = []
        if collect:
            # No ORDER BY: SQLite would walk the subject_id index and visit every row at random (5x slower
            # than a scan); the matches are sorted here instead.
            rows = await store.fetch(conn, inner, [], pg)
            rows.sort(key=lambda r: r["subject_id"])
            cent = Decimal("0.01")
            results = [
                MatchResult.model_construct(
                    subject_id=r["subject_id"],
                    clauses=r["zclauses"].split(";"),
                    amount=(Decimal(int(r["zamount"])) / 100).quantize(cent),
                )
                for r in rows
            ]
            matched, total_fen = len(rows), sum(int(r["zamount"]) for r in rows)
        else:
            agg = await store.fetch(conn, f"SELECT COUNT(*) AS n, SUM(zamount) AS s FROM ({inner}) AS m", [], pg)
            matched, total_fen = int(agg[0]["n"]), int(agg[0]["s"] or 0)
        profiles = await store.fetch(conn, f"SELECT COUNT(*) AS n FROM {name}", [], pg)
        return results, int(profiles[0]["n"]), matched, total_fen, inner

    if not do_store:
        async with read_connection(engine) as conn:
            results, profiles, matched, total_fen, _ = await read(conn)
        return results, profiles, 0, matched, total_fen
    if pg:
        async with read_connection(engine) as conn:
            results, profiles, matched, total_fen, inner = await read(conn)
    async with engine.transaction() as tx:
        if not pg:
            # SQLite: read and insert on the write transaction's connection, so the second scan (the INSERT's)
            # finds the profile pages in this connection's cache; SQLite has one writer at a time anyway.
            await _prepare_sqlite(tx.connection)
            results, profiles, matched, total_fen, inner = await read(tx.connection)
        # The matches and their audit entry commit together.
        new = await _insert_matches(tx.connection, pg, ruleset, as_of, inner, rdigest) if matched else 0
        if actor is not None:
            await actor.record(
                "eligibility.match",
                "ruleset",
                ruleset.key,
                after={"new": new},
                detail={"as_of": as_of.isoformat(), "new": new, "matched": matched},
            )
    return results, profiles, new, matched, total_fen


class AmountOverflow(Exception):
    pass


def _amount_overflow() -> None:
    raise AmountOverflow


OVERFLOW = "an amount beyond the database's 64-bit integers (the amounts are computed in Python)"


def _is_overflow(exc: BaseException) -> bool:
    """An amount that overflowed in SQL: PostgreSQL's numeric_value_out_of_range, or SQLite's
    zhida_amount_overflow (the driver reports any exception of a registered function the same way; falling back is
    safe for every one of them)."""
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return "user-defined function raised exception" in str(exc)
    return getattr(exc, "sqlstate", None) == "22003"


def _sha256_hex(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


async def _insert_matches(conn, pg: bool, ruleset, as_of: dt.date, inner: str, rdigest: str) -> int:
    """INSERT … SELECT the matches of ``inner`` not stored yet; the digest text is the one of
    eligibility.matcher.match_digest (fields joined by U+001F). Returns how many rows were new."""
    now = dt.datetime.now(dt.UTC)
    cols = (
        "ruleset_key, version_id, code, subject_kind, subject_id, clauses, amount_fen, as_of, profile_digest, "
        "rule_digest, match_digest, created_at"
    )
    if pg:
        sep = "chr(31)"
        text = (
            f"$1::text || {sep} || subject_id || {sep} || zclauses || {sep} || CAST(zamount AS TEXT) || {sep} || "
            f"digest || {sep} || $6::text"
        )
        digest = f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')"
        select = (
            f"SELECT $1::text, $2::bigint, $3::text, $4::text, subject_id, zclauses, zamount, $5::date, digest, "
            f"$6::text, zdigest, $7::timestamptz FROM (SELECT m.*, {digest} AS zdigest FROM ({inner}) AS m) AS d"
        )
        args = [ruleset.key, ruleset.version_id, ruleset.code, ruleset.subject, as_of, rdigest, now]
        # An anti-join skips what is stored: about twice as fast as ON CONFLICT, whose speculative insertion
        # costs on every row. A run that commits the same matches meanwhile makes the unique index refuse
        # one: then (inside a savepoint) the statement is repeated with ON CONFLICT DO NOTHING.
        # Inserted in subject order, the identity and subject indexes grow in order instead of at random
        # (NC-JOB-STABILIZATION's 682k matches, measured alone: 12.9-15.1 s -> 7.1-9.5 s).
        import asyncpg

        try:
            async with conn.transaction():
                status = await conn.execute(
                    f"INSERT INTO eligibility_match ({cols}) {select} WHERE NOT EXISTS "
                    f"(SELECT 1 FROM eligibility_match e WHERE e.ruleset_key = $1 AND e.subject_id = d.subject_id "
                    f"AND e.match_digest = d.zdigest) ORDER BY d.subject_id",
                    *args,
                )
        except asyncpg.UniqueViolationError:
            status = await conn.execute(
                f"INSERT INTO eligibility_match ({cols}) {select} ORDER BY d.subject_id "
                f"ON CONFLICT (ruleset_key, subject_id, match_digest) DO NOTHING",
                *args,
            )
        return int(status.split()[-1])
    sep = "char(31)"
    text = (
        f"?1 || {sep} || subject_id || {sep} || zclauses || {sep} || CAST(zamount AS TEXT) || {sep} || "
        f"digest || {sep} || ?6"
    )
    # "WHERE 1": SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT (a parsing ambiguity otherwise).
    # Inserted in subject order (sorted, "+" keeps SQLite from walking the subject index to the rows at random
    # instead): the subject index then grows at its end (measured alone: the 8 bundled policies' inserts 34 s → 26 s).
    sql = (
        f"INSERT INTO eligibility_match ({cols}) SELECT ?1, ?2, ?3, ?4, subject_id, zclauses, zamount, ?5, digest, "
        f"?6, zhida_sha256({text}), ?7 FROM ({inner}) AS m WHERE 1 ORDER BY +subject_id "
        f"ON CONFLICT (ruleset_key, subject_id, match_digest) DO NOTHING"
    )
    args = [ruleset.key, ruleset.version_id, ruleset.code, ruleset.subject, as_of, rdigest, now]
    cursor = await conn.execute(sql, args)
    new = cursor.rowcount
    await cursor.close()
    return int(new)
