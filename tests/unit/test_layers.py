"""The house's floors: the library (anpr) at the bottom, the services above it, the command (cli)
above them, the benchmarks on top. An import only ever goes down a floor, and no service imports
another (services/__init__.py, their index, is the services' floor's own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"anpr": 1, "services": 2, "cli": 3, "benchmarks": 4}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names), with its line; lazy imports inside functions too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def sources() -> list[Path]:
    return sorted(p for top in FLOORS for p in (ROOT / top).rglob("*.py") if "v1" not in p.relative_to(ROOT).parts)


def wrong_imports(path: Path, root: Path = ROOT) -> list[str]:
    rel = path.relative_to(root)
    floor = FLOORS[rel.parts[0]]
    own_service = rel.parts[1] if rel.parts[0] == "services" and len(rel.parts) > 2 else None
    problems = []
    for line, module in imported_modules(path):
        top = module.split(".")[0]
        if top == "tests":
            problems.append(f"{rel}:{line} imports {module}: nothing but the tests imports the tests")
        elif top in FLOORS and FLOORS[top] > floor:
            problems.append(f"{rel}:{line} imports {module}, a floor above it")
        elif own_service and top == "services" and module.count(".") >= 1:
            other = module.split(".")[1]
            if other != own_service and (root / "services" / other).is_dir():
                problems.append(f"{rel}:{line}: service {own_service} imports service {other}")
    return problems


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_down(path):
    assert wrong_imports(path) == []


def test_the_check_sees_an_import_that_runs_back_up(tmp_path):
    assert wrong_imports(ROOT / "anpr" / "runtime" / "server.py") == []
    (tmp_path / "anpr").mkdir()
    (tmp_path / "services" / "ingest").mkdir(parents=True)
    (tmp_path / "services" / "matcher").mkdir()
    (tmp_path / "anpr" / "x.py").write_text("def f():\n    from services import spec\n")
    (tmp_path / "services" / "ingest" / "y.py").write_text("import services.matcher.store\n")
    assert wrong_imports(tmp_path / "anpr" / "x.py", tmp_path) == [
        "anpr/x.py:2 imports services, a floor above it",
        "anpr/x.py:2 imports services.spec, a floor above it",
    ]
    assert wrong_imports(tmp_path / "services" / "ingest" / "y.py", tmp_path) == [
        "services/ingest/y.py:1: service ingest imports service matcher"
    ]
