"""Per-paper configurations, their profile tables, and override validation.

Each paper has a module in :mod:`paperlib.configs` that defines::

    SLUG = "01_resnext"            # notebook file stem
    TITLE = "Aggregated Residual Transformations ..."
    @dataclass
    class Config: ...              # every knob of the notebook, with defaults
    PROFILES = {"ci": {...}, "default": {...}, "gpu": {...}, "paper": {...}}  # values over defaults
    TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}      # seconds per notebook

The modules are discovered automatically, so adding a paper is adding one file.

Value ranges are data too: a module declares ``RANGES = {field: Range(...)}`` (shorthands COUNT, NONNEG,
POSITIVE, PROB, STEPS, SEEDS below) and its Config's ``__post_init__`` calls ``check_ranges(self, RANGES)``,
so an out-of-range value (``mask_ratio=1.5``, ``epochs=0``, ``max_steps=0``) is refused when the Config is
built -- by the runner before any kernel starts -- with the field, the value and the valid range::

    RANGES = {"epochs": COUNT, "lr": POSITIVE, "mask_ratio": Range(0, 1, hi_open=True),
              "max_steps": STEPS, "threads": Range(lo=1, zero="torch's default"), "seeds": SEEDS}
"""
from __future__ import annotations

import dataclasses
import importlib
import math
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


# ----------------------------------------------------------------------------- value ranges
def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e12 else f"{x:g}"


@dataclass(frozen=True)
class Range:
    """The valid values of one config field, declared as data (see :func:`check_ranges`).

    Numbers: ``lo`` / ``hi`` bounds (closed unless ``lo_open`` / ``hi_open``), always finite.
    ``none``: None is also valid and means this (e.g. "unlimited"); ``zero``: 0 is also valid
    (outside the bounds) and means this (e.g. "off"). ``choices``: a set of valid values.
    Lists / tuples / dicts: ``nonempty`` requires at least one item; the bounds and choices then
    apply to every item (dict: every value); a nested list's items are checked in turn.
    ``why``: an optional hint appended to the message (what the value means, where it is used)."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    none: str | None = None
    zero: str | None = None
    choices: tuple | None = None
    nonempty: bool = False
    why: str = ""

    def describe(self, value=None) -> str:
        """The valid values in words; for a list / dict `value`, of its items."""
        if self.choices is not None:
            d = "one of " + ", ".join(map(repr, self.choices))
        elif self.lo is not None and self.hi is not None:
            d = f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            d = f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            d = f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        else:
            d = "any value"
        if self.zero:
            d += f", or 0 ({self.zero})"
        if self.none:
            d += f", or None ({self.none})"
        if isinstance(value, (list, tuple, dict)):
            d = ("a non-empty " if self.nonempty else "a ") + ("dict" if isinstance(value, dict) else "list") \
                + (f" whose items are {d}" if d != "any value" else "")
        return d

    def _scalar_ok(self, v) -> bool:
        if v is None:
            return self.none is not None
        if self.choices is not None:
            return v in self.choices
        if self.lo is None and self.hi is None:
            return True
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        if self.zero and v == 0:
            return True
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def problem(self, value) -> str | None:
        """None if `value` is valid, else what is wrong with it (for the error message)."""
        if isinstance(value, (list, tuple, dict)):
            items = list(value.values()) if isinstance(value, dict) else list(value)
            if self.nonempty and not items:
                return "must not be empty"
            flat = []
            while items:                      # nested lists ([[lo, hi], ...]): every leaf
                v = items.pop(0)
                if isinstance(v, (list, tuple)):
                    items[:0] = list(v)
                else:
                    flat.append(v)
            bad = [v for v in flat if not self._scalar_ok(v)]
            return f"has item(s) {bad!r} outside the range" if bad else None
        return None if self._scalar_ok(value) else "is out of range"


#: the dataset names paperlib.data.classification_datasets reads (a test keeps them in sync)
CLASSIFICATION_DATASETS = ("synthetic", "cifar10", "cifar100", "imagefolder", "imagenet", "tiny-imagenet")
#: AnyNet stems (paperlib.models.anynet.STEMS; a test keeps them in sync)
ANYNET_STEMS = ("imagenet", "imagenet_nopool", "simple", "cifar")

#: common ranges (compose your own with Range(...))
COUNT = Range(lo=1)                       # epochs, batch sizes, model / image counts
NONNEG = Range(lo=0)
POSITIVE = Range(lo=0, lo_open=True)      # learning rates, widths, thresholds
PROB = Range(0, 1)                        # probabilities and fractions
STEPS = Range(lo=1, none="no limit")      # max_steps
SEEDS = Range(0, 2 ** 32 - 1, nonempty=True)   # numpy seeds are unsigned 32-bit


def check_ranges(cfg, ranges: dict, where: str = "") -> None:
    """Check every field of `cfg` listed in `ranges` ({field: Range}); raise ValueError listing each
    bad field with its value and valid range (the runner and :func:`get_config` turn it into a
    ConfigError naming the paper and profile, before any kernel starts). Call it from a Config's
    ``__post_init__``: ``check_ranges(self, RANGES)``. A field missing from `cfg` is a bug in the
    table and raises too."""
    errors = []
    for name, rng in ranges.items():
        if not hasattr(cfg, name):
            raise AttributeError(f"{type(cfg).__name__} has no field {name!r} (listed in its RANGES table)")
        value = getattr(cfg, name)
        why = rng.problem(value)
        if why:
            errors.append(f"field {name} = {value!r} {why}: expected {rng.describe(value)}"
                          + (f" ({rng.why})" if rng.why else ""))
    if errors:
        raise ValueError((f"{where}: " if where else "") + "; ".join(errors))


def check_range(cfg, name: str, **kw) -> None:
    """One field: ``check_range(cfg, "mask_ratio", lo=0, hi=1, hi_open=True)`` (keywords of Range)."""
    check_ranges(cfg, {name: Range(**kw)})


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


def _shifted(value, seed: int):
    return [int(seed) + int(s) for s in value]


def _seed_fields(names) -> list[str]:
    """Config fields that list training seeds: ``seeds`` and any ``*_seeds`` (e.g. 01's ``ablation_seeds``);
    counts such as MAE's ``ref_seeds`` (an int) are not lists and are left alone."""
    return [n for n in names if n == "seeds" or n.endswith("_seeds")]


def shift_seeds(cfg, seed: int):
    """The notebook's ``seed`` shifts every training seed of the config: ``cfg.seeds`` (and every other
    ``*_seeds`` list, also inside ``cfg.arms`` dicts) becomes [seed + s, ...], in place, so the recorded
    config shows the seeds used; returns ``cfg``. ``Run`` calls it once for every notebook: notebooks and
    experiment modules use ``cfg.seeds`` as given and never shift again. Seed 0 leaves the config unchanged.
    With two or three seeds, ``-p seed=3`` gives a set disjoint from the default's (what ``run --compare``
    needs to test a verdict at other seeds)."""
    for name in _seed_fields(vars(cfg)):
        value = getattr(cfg, name)
        if isinstance(value, (list, tuple)):
            setattr(cfg, name, _shifted(value, seed))
    for arm in getattr(cfg, "arms", None) or []:
        if isinstance(arm, dict):
            for name in _seed_fields(list(arm)):
                if isinstance(arm[name], (list, tuple)):
                    arm[name] = _shifted(arm[name], seed)
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
