"""JSON helpers at the bottom of the layers (numpy only): every layer that writes JSON uses these.

    json.dump(obj, f, default=json_default)     # numpy scalars / arrays, sets, paths, dataclasses
    to_jsonable(obj)                             # the same as plain JSON types; non-finite floats -> None

``paperlib.metrics.stats`` re-exports both names (older imports keep working).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

__all__ = ["to_jsonable", "json_default"]


def to_jsonable(x):
    """Plain JSON types from numpy/torch scalars, arrays, dataclasses and paths; non-finite floats -> None."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return to_jsonable(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:  # torch scalars
        return to_jsonable(x.item())
    return x


def json_default(o):
    """`default=` hook for json.dump: numpy scalars/arrays, sets (sorted), paths, dataclasses;
    anything else raises TypeError naming the type."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
