"""The README's promises that code can check: its settings table is the current one, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from kstream.__main__ import readme_with_settings

REPO = Path(__file__).resolve().parents[2]


def test_settings_table_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme == readme_with_settings(readme), "README settings table is stale: run `make readme`"


def test_make_targets_named_in_the_readme_exist() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    mentioned = set(re.findall(r"make (?:-s )?([a-z][a-z-]*)", readme))
    assert {"dev", "test", "token"} <= mentioned
    for target in mentioned:
        assert target in targets, f"README mentions `make {target}` but the Makefile has no such target"
