"""Per-paper configurations, their profile tables, and override validation.

Each paper has a module in :mod:`paperlib.configs` that defines::

    SLUG = "01_resnext"            # notebook file stem
    TITLE = "Aggregated Residual Transformations ..."
    @dataclass
    class Config: ...              # every knob of the notebook, with defaults
    PROFILES = {"ci": {...}, "default": {...}, "gpu": {...}, "paper": {...}}  # values over defaults
    TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}      # seconds per notebook

The modules are discovered automatically, so adding a paper is adding one file.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO_ROOT

PROFILES = ("ci", "default", "gpu", "paper")
NOTEBOOK_PARAMS = ("profile", "seed", "device", "data_root", "overrides", "out_dir")


class ConfigError(ValueError):
    """A bad profile, override key or override value; the message lists the valid choices."""


@dataclass(frozen=True)
class PaperSpec:
    slug: str
    title: str
    config_cls: type
    profiles: dict
    timeout: dict = field(default_factory=dict)
    module: str = ""

    @property
    def notebook(self) -> Path:
        return REPO_ROOT / "notebooks" / f"{self.slug}.ipynb"

    @property
    def name(self) -> str:  # "resnext" for "01_resnext"
        return self.slug.split("_", 1)[1]


def _discover() -> dict[str, PaperSpec]:
    from . import configs

    papers = {}
    for info in sorted(pkgutil.iter_modules(configs.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{configs.__name__}.{info.name}")
        if not all(hasattr(mod, a) for a in ("SLUG", "TITLE", "Config", "PROFILES")):
            continue
        unknown = set(mod.PROFILES) - set(PROFILES)
        if unknown:
            raise ConfigError(f"{mod.__name__}: unknown profiles {sorted(unknown)}; valid: {PROFILES}")
        spec = PaperSpec(mod.SLUG, mod.TITLE, mod.Config, dict(mod.PROFILES),
                         dict(getattr(mod, "TIMEOUT", {})), mod.__name__)
        for prof, values in spec.profiles.items():  # a typo in a profile table fails loudly
            validate_values(spec, values, where=f"{mod.__name__}.PROFILES[{prof!r}]")
        papers[spec.slug] = spec
    return dict(sorted(papers.items()))


class _Papers(dict):
    """Lazy registry: importing paperlib.config does not import every config module."""

    _loaded = False

    def _load(self):
        if not self._loaded:
            self._loaded = True
            self.update(_discover())

    def __getitem__(self, k):
        self._load()
        return super().__getitem__(k)

    def __iter__(self):
        self._load()
        return super().__iter__()

    def __len__(self):
        self._load()
        return super().__len__()

    def __contains__(self, k):
        self._load()
        return super().__contains__(k)

    def keys(self):
        self._load()
        return super().keys()

    def values(self):
        self._load()
        return super().values()

    def items(self):
        self._load()
        return super().items()

    def get(self, k, default=None):
        self._load()
        return super().get(k, default)


PAPERS: dict[str, PaperSpec] = _Papers()


def resolve_slug(name: str) -> str:
    """Accept "01_resnext", "resnext", "01" or "1"; raise ConfigError listing the valid slugs."""
    name = str(name).strip()
    for slug in PAPERS:
        num, short = slug.split("_", 1)
        if name in (slug, short) or (name.isdigit() and int(name) == int(num)):
            return slug
    raise ConfigError(f"unknown paper {name!r}; valid: {', '.join(PAPERS)}")


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(_type_ok(v, a) for v, a in zip(value, args))
        return not args or all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        args = typing.get_args(tp)
        return not args or all(_type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items())
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _type_name(tp) -> str:
    if typing.get_origin(tp) is not None or not hasattr(tp, "__name__"):
        return str(tp).replace("typing.", "")
    return tp.__name__


def validate_values(spec: PaperSpec, values: dict, where: str = "overrides") -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a dict, got {type(values).__name__}")
    hints = typing.get_type_hints(spec.config_cls)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"{spec.slug}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
            f"valid keys: {', '.join(sorted(fields))}")
    for k, v in values.items():
        if not _type_ok(v, hints[k]):
            raise ConfigError(f"{spec.slug}: {where}[{k!r}] = {v!r} has type {type(v).__name__}, "
                              f"expected {_type_name(hints[k])}")


def get_config(slug: str, profile: str = "default", overrides: dict | None = None):
    """The paper's Config for `profile`, with `overrides` applied (validated: unknown key -> error)."""
    slug = resolve_slug(slug)
    spec = PAPERS[slug]
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile not in spec.profiles:
        raise ConfigError(f"{slug} has no profile {profile!r}; valid: {', '.join(spec.profiles)}")
    overrides = dict(overrides or {})
    validate_values(spec, overrides)
    values = {**spec.profiles[profile], **overrides}
    try:
        cfg = spec.config_cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:      # a Config's own __post_init__ checks
        raise ConfigError(f"{slug} ({profile}): {e}") from e
    return cfg


def validate_params(slug: str, params: dict) -> None:
    """Check notebook parameters (names, profile, overrides) before any kernel starts."""
    unknown = sorted(set(params) - set(NOTEBOOK_PARAMS))
    if unknown:
        raise ConfigError(f"unknown notebook parameter(s) {unknown}; valid: {', '.join(NOTEBOOK_PARAMS)}")
    if "seed" in params and not _type_ok(params["seed"], int):
        raise ConfigError(f"seed must be an int, got {params['seed']!r}")
    for name in ("device", "data_root", "out_dir"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise ConfigError(f"{name} must be a string or None, got {params[name]!r}")
    get_config(slug, params.get("profile", "default"), params.get("overrides") or {})
