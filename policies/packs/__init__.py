"""Policy packs (policy-pack.md): YAML in, every problem out, checked content; and a version back to YAML.

Nothing here touches the database: ``read_pack`` turns a file into checked ``PolicyContent`` or raises
``PackRefused`` listing every problem (YAML, unknown keys, types, rules, the policy's own tests). The bundled
packs (``*.yaml`` in this folder) are realistic policies that ``zhida demo`` loads and publishes.
"""

from __future__ import annotations

from pathlib import Path

from policies.packs.checking import (
    check_policy,
    check_rules,
    coverage_problems,
    read_pack,
    read_pack_text,
    run_tests,
    test_problems,
    to_ruleset,
)
from policies.packs.export import content_hash, content_to_dict, export_yaml, tests_yaml
from policies.packs.reading import parse_pack_text, validate_structure

PACKS_DIR = Path(__file__).resolve().parent


def bundled_pack_paths() -> list[Path]:
    """The realistic policy packs shipped with Zhida (``zhida demo`` loads and publishes them)."""
    return sorted(PACKS_DIR.glob("*.yaml"))


__all__ = [
    "bundled_pack_paths",
    "check_policy",
    "check_rules",
    "content_hash",
    "content_to_dict",
    "coverage_problems",
    "export_yaml",
    "parse_pack_text",
    "read_pack",
    "read_pack_text",
    "run_tests",
    "test_problems",
    "tests_yaml",
    "to_ruleset",
    "validate_structure",
    "PACKS_DIR",
]
