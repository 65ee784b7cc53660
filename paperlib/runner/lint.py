"""The notebook linter: what is wrong with a committed notebook (used by tests/test_notebook_hygiene.py)."""
from __future__ import annotations

import ast
from pathlib import Path

from ..config import NOTEBOOK_PARAMS
from .common import KERNEL_NAME, _load_nb, _registry


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and all(_is_literal(v) for v in node.values)
    return False


def hygiene_problems(path: Path, papers=None) -> list[str]:
    """Everything wrong with a committed notebook (empty list = clean)."""
    problems = []
    nb = _load_nb(Path(path))
    if nb is None:
        return [f"{path}: not a readable notebook"]
    slug = Path(path).stem
    if slug not in _registry(papers):
        problems.append(f"slug {slug!r} is not registered in paperlib.configs (PAPERS)")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != KERNEL_NAME:
        problems.append(f"kernelspec name must be {KERNEL_NAME!r}, "
                        f"got {nb.get('metadata', {}).get('kernelspec', {}).get('name')!r}")
    cells = nb.get("cells", [])
    for i, c in enumerate(cells, 1):
        if c.get("cell_type") != "code":
            continue
        if c.get("outputs"):
            problems.append(f"cell {i}: outputs not stripped")
        if c.get("execution_count") is not None:
            problems.append(f"cell {i}: execution_count is {c.get('execution_count')}, expected null")
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for ln in src.splitlines():
            s = ln.strip()
            if s.startswith(("!pip", "%pip", "!conda", "%conda", "!python -m pip", "%%pip")):
                problems.append(f"cell {i}: installs packages ({s[:40]!r}); no pip in notebooks")
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    if len(tagged) != 1:
        problems.append(f"expected exactly one cell tagged 'parameters', found {len(tagged)}")
        return problems
    p = tagged[0]
    if not code or code[0] != p:
        problems.append("the 'parameters' cell must be the first code cell")
    src = cells[p].get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        problems.append(f"parameters cell does not parse: {e}")
        return problems
    names = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            problems.append(f"parameters cell line {node.lineno}: only `name = literal` assignments allowed")
            continue
        if not _is_literal(node.value):
            problems.append(f"parameters cell: {node.targets[0].id} is not a literal")
        names.append(node.targets[0].id)
    if sorted(names) != sorted(NOTEBOOK_PARAMS):
        problems.append(f"parameters cell must assign exactly {', '.join(NOTEBOOK_PARAMS)} once each; got {', '.join(names)}")
    return problems

