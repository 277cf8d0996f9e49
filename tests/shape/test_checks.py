"""The code's shape checks (scripts/check) pass on the tree and fail on a deliberate violation of each kind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGES = ("kit", "app", "payments", "policies", "eligibility", "notifications")


def _run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages, for planting violations without touching the checkout."""
    dest = tmp_path_factory.mktemp("shape")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "piccolo_migrations"))
    return dest


def test_the_tree_passes_every_check() -> None:
    proc = _run(["bash", str(ROOT / "scripts" / "check")], ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "code shape: all checks passed" in proc.stdout


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        [str(BIN / "lint-imports"), "--config", str(ROOT / ".importlinter"), "--no-cache"], tree, PYTHONPATH=str(tree)
    )


@pytest.mark.parametrize(
    ("path", "source", "contract"),
    [
        ("kit/_planted.py", "import payments\n", "kit is the bottom layer: it imports no domain BROKEN"),
        ("eligibility/_planted.py", "import policies\n", "Imports run one way"),
        ("notifications/_planted.py", "import eligibility\n", "notifications imports no other domain"),
        ("policies/_planted.py", "import litestar\n", "No domain package imports Litestar"),
        ("payments/_planted.py", "import importlib\n", "No package reaches another through importlib"),
        (
            "eligibility/_planted.py",
            "def f():\n    from eligibility import _planted_b  # noqa: F401\n",
            "No import circles between sibling modules",
        ),
    ],
)
def test_an_import_contract_violation_fails(tree: Path, path: str, source: str, contract: str) -> None:
    planted = [tree / path]
    planted[0].write_text(source, encoding="utf-8")
    if "_planted_b" in source:  # the other half of the circle
        planted.append(tree / "eligibility" / "_planted_b.py")
        planted[1].write_text("from eligibility import _planted  # noqa: F401\n", encoding="utf-8")
    try:
        proc = _lint_imports(tree)
    finally:
        for p in planted:
            p.unlink()
    assert proc.returncode != 0
    broken = [line for line in proc.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract.removesuffix(" BROKEN")[:40]) for line in broken), proc.stdout[-2000:]


def test_lint_and_format_violations_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f( x ):\n    return x\n", encoding="utf-8")
    config = str(ROOT / "pyproject.toml")
    lint = _run([str(BIN / "ruff"), "check", "--config", config, str(bad)], tmp_path)
    assert lint.returncode == 1 and "F401" in lint.stdout
    fmt = _run([str(BIN / "ruff"), "format", "--check", "--config", config, str(bad)], tmp_path)
    assert fmt.returncode == 1 and "would be reformatted" in (fmt.stdout + fmt.stderr)


def test_a_type_error_fails(tree: Path) -> None:
    planted = tree / "kit" / "_planted.py"
    planted.write_text('def fen() -> int:\n    return "100"\n', encoding="utf-8")
    try:
        proc = _run(
            [str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", "-p", "kit"],
            tree,
            PYTHONPATH=str(tree),
        )
    finally:
        planted.unlink()
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "_planted.py:2: error: Incompatible return value type" in proc.stdout
