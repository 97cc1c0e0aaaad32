"""The contracts: buf lint (STANDARD) passes, and the committed generated code is what protoc makes."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def buf() -> str:
    exe = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(exe).exists():
        pytest.fail("buf is not installed: pip install -e '.[dev]' installs buf-bin")
    return exe


def test_buf_lint_standard_passes():
    result = subprocess.run([buf(), "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_would_catch_a_bad_contract(tmp_path):
    """The lint step is live: a message field in camelCase is reported."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    bad = tmp_path / "protos" / "anpr" / "v1" / "types.proto"
    bad.write_text(bad.read_text().replace("string read_id = 1;", "string readId = 1;", 1))
    result = subprocess.run([buf(), "lint"], cwd=tmp_path / "protos", capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "readId" in result.stdout


def test_regenerating_the_contracts_changes_nothing(tmp_path):
    subprocess.run([sys.executable, "-m", "anpr.codegen", "--out", str(tmp_path)], cwd=ROOT, check=True, timeout=120)
    committed, fresh = ROOT / "anpr" / "v1", tmp_path / "anpr" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(p.name for p in committed.iterdir() if p.is_file() and p.suffix in {".py", ".pyi"})
    _, mismatch, errors = filecmp.cmpfiles(committed, fresh, names, shallow=False)
    assert not mismatch and not errors, f"anpr/v1 is stale; run `python -m anpr.codegen`: {mismatch + errors}"


def test_every_enum_has_an_unspecified_zero_value():
    from anpr.v1 import types_pb2

    for enum in types_pb2.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.name


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    return subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_no_errors():
    """Bugs, asyncio pitfalls, unsorted imports, complexity (the rules in pyproject; generated code excluded)."""
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    """`ruff format` would change nothing (run it before committing)."""
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
