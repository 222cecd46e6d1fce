"""Settings a project's Python files write as literals (``timeout = 60``), read with ``ast``: never imported,
never run. A setting computed at run time (``int(os.environ.get(...))``) is ``NOT_A_LITERAL``."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Optional

NOT_A_LITERAL = object()


@dataclass(frozen=True)
class Literal:
    value: Any  # NOT_A_LITERAL when the right-hand side is not a literal
    line: int


def module_literals(source: str) -> Optional[dict[str, Literal]]:
    """The module-level assignments to a name, the last one of each as Python would leave it; None when the
    source is not valid Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return _assignments(tree.body)


def class_literals(source: str, class_name: str) -> dict[str, Literal]:
    """The defaults a class body assigns (``sql_timeout_seconds: int = 120``); empty when there is no such class."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    body = next((node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name), [])
    return _assignments(body)


def _assignments(body: list[ast.stmt]) -> dict[str, Literal]:
    found: dict[str, Literal] = {}
    for node in body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = Literal(_evaluated(value), node.lineno)
    return found


def _evaluated(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_A_LITERAL


def number(value: Any) -> Optional[float]:
    """An int or a float (not a bool) as a float; None for anything else."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
