"""The reference is in docs/ (the README is a newcomer's page): every setting a service reads has its
row in the settings table of docs/operators.md, and the README and docs pages link only to pages
that exist."""

from __future__ import annotations

import re
from pathlib import Path

import services

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = ROOT / "docs" / "operators.md"
# Not an operator's: set by a service for its own workers, or the commands' token (docs/commands.md).
NOT_OPERATORS = {"ANPR_REUSE_PORT", "ANPR_TOKEN"}


def documented_settings(text: str) -> set[str]:
    """The variables named in the first column of the settings table; `_ROLES` after
    `ANPR_OIDC_CLAIM_SUBJECT` is ANPR_OIDC_CLAIM_ROLES (the table abbreviates a family so)."""
    names: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("| `ANPR_"):
            continue
        last = ""
        for token in re.findall(r"`([A-Z0-9_]+)`", line.split("|")[1]):
            if token.startswith("ANPR_"):
                last = token
            elif token.startswith("_") and last:
                token = last.rsplit("_", 1)[0] + token
            else:
                continue
            names.add(token)
    return names


def test_every_setting_has_its_row_in_the_operators_settings_table():
    missing = sorted(services.settings_variables() - NOT_OPERATORS - documented_settings(OPERATORS.read_text()))
    assert not missing, f"settings without a row in docs/operators.md: {missing}"


def test_links_between_the_readme_and_the_docs_pages_resolve():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_readme_installs_what_the_client_commands_need():
    """The demo's install (the README's first command) is a workstation's: it has the client extra
    (pyproject.toml), without which `anpr hotlist` and `anpr rota import` refuse to start."""
    readme = (ROOT / "README.md").read_text()
    install = re.search(r"python3 -m venv \.venv && \.venv/bin/pip install -e (\S+) && \.venv/bin/anpr up", readme)
    assert install, "the README's first command is not where it was"
    extras = re.fullmatch(r"'?\.(?:\[([a-z,]+)\])?'?", install.group(1))
    assert extras and "client" in (extras.group(1) or "").split(","), install.group(0)
