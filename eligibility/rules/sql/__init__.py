"""Rule-engine AST -> parameter-free SQL for the profile tables (SQLite and PostgreSQL): the pure compiler.

Nothing here touches a database: eligibility.match_sql plans, runs and stores what this compiles. A construct the
compiler does not cover raises NotCompilable, and the matcher falls back to rule-engine per profile.
"""

from eligibility.rules.sql.amounts import compile_amount_fen, compile_outcome
from eligibility.rules.sql.conditions import Compiler, NotCompilable, compile_where
from eligibility.rules.sql.filters import compile_ruleset, implied_conditions

__all__ = [
    "Compiler",
    "NotCompilable",
    "compile_amount_fen",
    "compile_outcome",
    "compile_ruleset",
    "compile_where",
    "implied_conditions",
]
