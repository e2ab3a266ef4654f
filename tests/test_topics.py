"""The hub's topic names live in one module of the event layer (realtime/topics.py): no other
module defines one, so no domain imports another's actions just to name a topic."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "plug2support"


def test_topic_names_are_defined_only_in_realtime_topics() -> None:
    defined: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_topic"):
                defined.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert defined, "no topic functions found: the scan looks in the wrong place"
    elsewhere = {name: paths for name, paths in defined.items()
                 if paths != ["realtime/topics.py"]}
    assert elsewhere == {}
