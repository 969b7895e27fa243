"""kstream.streaming's package names load on first use: importing the package (as the catalogue does, for
``streaming.links``) must not load the stream service, manifests or media store (cold start, decision 0012)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import kstream.streaming as streaming
import pytest

INIT = Path(streaming.__file__)


def test_the_package_init_imports_none_of_its_modules() -> None:
    tree = ast.parse(INIT.read_text())
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]
    eager = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
             and any(alias.name.startswith("kstream") for alias in node.names)]
    assert relative == [] and eager == [], "kstream/streaming/__init__.py must load its modules lazily"


@pytest.mark.parametrize("name", streaming.__all__)
def test_every_package_name_is_its_modules_own(name: str) -> None:
    module = importlib.import_module(f"kstream.streaming.{streaming._MODULE_OF[name]}")
    assert getattr(streaming, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = streaming.no_such_name
