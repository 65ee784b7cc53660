"""Layering and the bottom modules: imports run one way, JSON helpers and the data registry sit low."""
import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import paperlib

PKG = Path(paperlib.__file__).parent
HIGH = ("record", "run", "sweep", "experiments", "__main__")


def _imported_modules(path: Path, root: Path = PKG.parent):
    """Every paperlib module a file imports, at any depth (function-level imports included)."""
    rel = path.relative_to(root).with_suffix("").parts         # ("paperlib", "data", "common")
    pkg = rel[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - node.level + 1])
                mod = base + (node.module.split(".") if node.module else [])
            else:
                mod = (node.module or "").split(".")
            if mod and mod[0] == "paperlib":
                yield ".".join(mod)
                for a in node.names:                                  # from .. import record
                    yield ".".join(mod + [a.name])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("paperlib"):
                    yield a.name


@pytest.mark.parametrize("layer", ["data", "models", "engine", "metrics"])
def test_lower_layers_never_import_higher_ones(layer):
    bad = []
    for f in sorted((PKG / layer).rglob("*.py")):
        for m in _imported_modules(f):
            parts = m.split(".")
            if len(parts) > 1 and parts[1] in HIGH:
                bad.append(f"{f.relative_to(PKG.parent)} imports {m}")
    assert not bad, "\n".join(bad)


def test_bottom_modules_import_no_paperlib_layer():
    for name in ("jsonio.py", "paths.py"):
        mods = [m for m in _imported_modules(PKG / name) if m not in ("paperlib", "paperlib.REPO_ROOT")]
        assert mods == [], (name, mods)


def test_import_scanner_sees_function_level_and_relative_imports(tmp_path):
    # the scanner itself must catch what the layer test looks for (so that test can fail)
    fake = tmp_path / "paperlib" / "data" / "probe.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ..record import DATA_USED\n    from .. import sweep\n")
    mods = set(_imported_modules(fake, tmp_path))
    assert {"paperlib.record", "paperlib.record.DATA_USED", "paperlib.sweep"} <= mods


def test_data_used_registry_lives_in_data_and_is_shared_with_record(tmp_path):
    from paperlib import record
    from paperlib.data import common

    assert record.DATA_USED is common.DATA_USED
    root = tmp_path / "k123"
    root.mkdir()
    (root / common.MANIFEST).write_text(json.dumps({"content_hash": "abc"}))
    common.record_use("probe", root)
    try:
        assert record.DATA_USED["probe/k123"] == {"hash": "abc", "path": str(root)}
    finally:
        common.DATA_USED.pop("probe/k123", None)


def test_jsonio_helpers_and_the_old_names():
    from paperlib import jsonio
    from paperlib.metrics import stats

    assert stats.to_jsonable is jsonio.to_jsonable and stats.json_default is jsonio.json_default

    @dataclasses.dataclass
    class D:
        a: int
        p: Path

    x = {1: np.float32(0.5), "n": np.int64(3), "inf": float("inf"), "arr": np.arange(2), "d": D(1, Path("/x")),
         "b": np.bool_(True), "t": (1, np.float64(float("nan")))}
    assert jsonio.to_jsonable(x) == {"1": 0.5, "n": 3, "inf": None, "arr": [0, 1], "d": {"a": 1, "p": "/x"},
                                     "b": True, "t": [1, None]}
    s = json.dumps({"s": {3, 1}, "i": np.int16(2), "f": np.float64(1.5), "a": np.ones(2), "p": Path("q")},
                   default=jsonio.json_default, sort_keys=True)
    assert json.loads(s) == {"a": [1.0, 1.0], "f": 1.5, "i": 2, "p": "q", "s": [1, 3]}
    with pytest.raises(TypeError, match="not JSON-serialisable: object"):
        json.dumps(object(), default=jsonio.json_default)
