"""Model registry: named builders with a metadata record of the paper's numbers.

    from paperlib.models import create_model, list_models, get_model_meta
    model = create_model("resnext50_32x4d", num_classes=10)
    get_model_meta("resnext50_32x4d")["params"]   # 25_028_904 (checked exactly by the tests)

Registering a model (in any module imported by ``paperlib.models``)::

    @register_model("my_net", meta={"params": 123, "flops": 456, "input_size": (3, 224, 224),
                                    "paper": {"top1_err": 22.2}})
    def my_net(**kwargs) -> nn.Module: ...

Metadata is a plain dict (so every paper's module can use it without importing a class).
Recommended keys: ``params`` / ``flops`` (multiply-adds) / ``acts`` -- exact numbers under the
counting convention of :func:`paperlib.metrics.complexity`, checked by the tests when present;
``input_size`` (C, H, W) at which ``flops``/``acts`` were counted; ``num_classes``;
``paper`` (dict of numbers as printed in the paper, e.g. ``{"params_m": 25.0, "gflops": 4.2,
"top1_err": 22.2}``); ``source`` (where the numbers come from); ``family`` (grouping tag).
"""
from __future__ import annotations

import copy
import fnmatch
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = ["register_model", "create_model", "list_models", "get_model_meta", "is_model"]

_BUILDERS: Dict[str, Callable[..., Any]] = {}
_META: Dict[str, Dict[str, Any]] = {}


def register_model(name: Optional[str] = None, meta: Optional[Mapping[str, Any]] = None):
    """Decorator registering ``fn`` under ``name`` (default: the function's name)."""

    def deco(fn):
        key = name or fn.__name__
        if key in _BUILDERS and _BUILDERS[key] is not fn:
            prev = _BUILDERS[key]
            # re-importing the same module (e.g. importlib.reload) is fine; two owners of a name is not
            if (getattr(prev, "__module__", None), getattr(prev, "__qualname__", None)) != (
                    fn.__module__, fn.__qualname__):
                raise ValueError(f"model {key!r} is already registered by {prev.__module__}")
        _BUILDERS[key] = fn
        m = dict(meta or {})
        m.setdefault("name", key)
        m.setdefault("module", fn.__module__)
        _META[key] = m
        fn.model_name = key
        return fn

    return deco


def is_model(name: str) -> bool:
    return name in _BUILDERS


def create_model(name: str, **kwargs) -> Any:
    """Build the model registered as ``name``; ``kwargs`` go to its builder (e.g. ``num_classes``)."""
    if name not in _BUILDERS:
        close = [n for n in _BUILDERS if name.split("_")[0] in n][:10]
        raise KeyError(f"unknown model {name!r}; e.g. {close or sorted(_BUILDERS)[:10]} "
                       f"(list_models() lists all {len(_BUILDERS)})")
    return _BUILDERS[name](**kwargs)


def list_models(pattern: Optional[str] = None, family: Optional[str] = None) -> List[str]:
    """Sorted names, optionally filtered by a glob ``pattern`` and/or the meta ``family`` tag."""
    names = sorted(_BUILDERS)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if family:
        names = [n for n in names if _META[n].get("family") == family]
    return names


def get_model_meta(name: str) -> Dict[str, Any]:
    """A copy of the metadata record of ``name``."""
    if name not in _META:
        raise KeyError(f"unknown model {name!r}")
    return copy.deepcopy(_META[name])
