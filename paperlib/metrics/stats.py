"""Statistics shared by every notebook: mean±std, bootstrap intervals, and the claim verdict rules.

Verdicts are *computed*: a :class:`Verdict` can only be made by the decision functions below, and
``Run.claim`` accepts nothing else. The rule (every spec's "claim-check rule"):

* **held** - the contrast has the paper's sign and its 95 % interval excludes 0
  (with >= 2 seeds and no interval: |diff| > 2 x seed std);
* **not held** - the opposite sign clears the same bar;
* **inconclusive** - otherwise (inside the noise, or the profile too small to tell).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..jsonio import json_default, to_jsonable  # noqa: F401  (re-exported: older imports)

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
_TOKEN = object()


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    evidence: dict = field(default_factory=dict)
    _token: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self._token is not _TOKEN:
            raise TypeError("a Verdict is made by paperlib.metrics.stats decision functions, not by hand")
        if self.verdict not in (HELD, NOT_HELD, INCONCLUSIVE):
            raise ValueError(f"bad verdict {self.verdict!r}")

    def __str__(self):
        return f"{self.verdict} ({self.reason})"


def _make(verdict: str, reason: str, **evidence) -> Verdict:
    return Verdict(verdict, reason, _clean(evidence), _TOKEN)


_clean = to_jsonable


# ----------------------------------------------------------------------------- summaries
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1; 0.0 for a single value)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def fmt_mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    m, s = mean_std(values)
    if len(values) > 1:
        return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"
    return f"{m * scale:.{digits}f}"


def bootstrap_ci(values: Sequence[float], stat: Callable = np.mean, n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat` over `values`."""
    a = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boots = np.array([stat(a[i]) for i in idx])
    return float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 1000, alpha: float = 0.05,
                     seed: int = 0) -> tuple[float, float, float]:
    """Difference mean(b) - mean(a) of paired per-item values (e.g. per-image correctness of two models),
    with a percentile bootstrap interval over items. Returns (diff, lo, hi)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs equal shapes, got {a.shape} and {b.shape}")
    d = b - a
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    boots = d[idx].mean(axis=1)
    return float(d.mean()), float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


def two_sample_bootstrap(a: Sequence[float], b: Sequence[float], stat: Callable = np.mean,
                         n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """stat(b) - stat(a) for independent samples (e.g. errors of two model populations), resampling each."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.size, size=(n_boot, a.size))
    ib = rng.integers(0, b.size, size=(n_boot, b.size))
    boots = np.array([stat(b[j]) - stat(a[i]) for i, j in zip(ia, ib)])
    return float(stat(b) - stat(a)), float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


# ----------------------------------------------------------------------------- decisions
def decide_diff(diff: float, lo: float | None = None, hi: float | None = None, *, expect: str,
                seed_std: float | None = None, n: int | None = None, min_effect: float | None = None,
                **evidence) -> Verdict:
    """Verdict for a contrast `diff` whose paper sign is `expect` ("+" or "-").

    With an interval (lo, hi): held if it excludes 0 on the paper's side, not held on the other side.
    Without one: held / not held if |diff| > 2 * seed_std (needs seed_std > 0).
    ``min_effect`` (and ``seed_std`` when given with an interval) add the rule "an effect counts as held
    only if its size exceeds max(2 x seed std, a stated minimum)": a contrast on the paper's side but
    below that floor is inconclusive. Not held never needs the floor (an interval or 2 x seed std
    against the paper suffices)."""
    if expect not in ("+", "-"):
        raise ValueError("expect must be '+' or '-'")
    if min_effect is not None and not (math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    sign = 1.0 if expect == "+" else -1.0
    floor = max(2 * seed_std if seed_std else 0.0, min_effect or 0.0)
    ev = dict(diff=diff, ci95=[lo, hi] if lo is not None else None, seed_std=seed_std, n=n, **evidence)
    if min_effect is not None:
        ev["min_effect"] = min_effect
    if diff is None or not math.isfinite(diff):
        return _make(INCONCLUSIVE, "no finite contrast", **ev)

    def small(reason):
        return _make(INCONCLUSIVE, f"{reason}, but |diff| is within the floor max(2 x seed std, stated minimum) "
                                   f"= {floor:.4g}", **ev)

    if lo is not None and hi is not None:
        if sign * lo > 0 and sign * hi > 0:
            reason = f"diff {diff:+.4g}, 95% CI [{lo:+.4g}, {hi:+.4g}] excludes 0 on the paper's side"
            if sign * diff <= floor:
                return small(reason)
            return _make(HELD, reason + (f" and exceeds {floor:.4g}" if floor else ""), **ev)
        if sign * lo < 0 and sign * hi < 0:
            return _make(NOT_HELD, f"diff {diff:+.4g}, 95% CI [{lo:+.4g}, {hi:+.4g}] excludes 0 against the paper", **ev)
        return _make(INCONCLUSIVE, f"diff {diff:+.4g}, 95% CI [{lo:+.4g}, {hi:+.4g}] contains 0", **ev)
    if seed_std is not None and seed_std > 0:
        bar = 2 * seed_std
        if -sign * diff > bar:
            return _make(NOT_HELD, f"diff {diff:+.4g} exceeds 2x seed std ({bar:.4g}) against the paper", **ev)
        if sign * diff > max(bar, floor):
            return _make(HELD, f"diff {diff:+.4g} exceeds 2x seed std ({bar:.4g})"
                               + (f" and the stated minimum ({min_effect:.4g})" if min_effect else "")
                               + " on the paper's side", **ev)
        if sign * diff > bar:
            return small(f"diff {diff:+.4g} exceeds 2x seed std ({bar:.4g})")
        return _make(INCONCLUSIVE, f"diff {diff:+.4g} within 2x seed std ({bar:.4g})", **ev)
    return _make(INCONCLUSIVE, f"diff {diff:+.4g} without a noise estimate", **ev)


def compare_arms(a: Sequence[float], b: Sequence[float], *, expect: str, n_boot: int = 1000,
                 seed: int = 0, **evidence) -> Verdict:
    """Contrast mean(b) - mean(a) of per-seed results of two arms (e.g. val error of A and B).

    With >= 2 values per arm the bar is 2 x the pooled seed std; with one value per arm there is no
    noise estimate (use :func:`paired_bootstrap` + :func:`decide_diff` on per-item results instead)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    diff = float(b.mean() - a.mean())
    ev = dict(a=a.tolist(), b=b.tolist(), **evidence)
    if a.size >= 2 and b.size >= 2:
        pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        return decide_diff(diff, expect=expect, seed_std=pooled, n=int(min(a.size, b.size)), **ev)
    return decide_diff(diff, expect=expect, n=int(min(a.size, b.size)), **ev)


def decide_paired(per_item_a: Sequence[float], per_item_b: Sequence[float], *, expect: str,
                  n_boot: int = 1000, seed: int = 0, **evidence) -> Verdict:
    """Paired bootstrap over items (mean(b) - mean(a)), then the interval rule."""
    diff, lo, hi = paired_bootstrap(per_item_a, per_item_b, n_boot=n_boot, seed=seed)
    return decide_diff(diff, lo, hi, expect=expect, n=len(per_item_a), **evidence)


def decide_exact(ours: Any, expected: Any, *, rel_tol: float = 0.0, **evidence) -> Verdict:
    """Exact check (complexity anchors, equivalence): held iff equal (or within rel_tol)."""
    def eq(x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(eq(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and all(eq(u, v) for u, v in zip(x, y))
        if isinstance(x, (int, float, np.number)) and isinstance(y, (int, float, np.number)):
            return x == y if rel_tol == 0 else abs(x - y) <= rel_tol * max(abs(x), abs(y))
        return x == y
    ok = eq(ours, expected)
    return _make(HELD if ok else NOT_HELD, "equal to the paper's numbers" if ok else "differs from the paper's numbers",
                 ours=ours, expected=expected, **evidence)


def decide_all(conditions: dict[str, bool], **evidence) -> Verdict:
    """held iff every named check passed (e.g. a chain of equalities measured in this run)."""
    failed = [k for k, v in conditions.items() if not v]
    if not failed:
        return _make(HELD, "all checks passed: " + ", ".join(conditions), checks=conditions, **evidence)
    return _make(NOT_HELD, "failed: " + ", ".join(failed), checks=conditions, **evidence)


def combine(verdicts: Sequence[Verdict], **evidence) -> Verdict:
    """A claim made of several parts: held if all held, not held if any not held, else inconclusive."""
    vs = [v.verdict for v in verdicts]
    ev = dict(parts=[{"verdict": v.verdict, "reason": v.reason} for v in verdicts], **evidence)
    if vs and all(v == HELD for v in vs):
        return _make(HELD, "all parts held", **ev)
    if any(v == NOT_HELD for v in vs):
        return _make(NOT_HELD, f"{vs.count(NOT_HELD)} of {len(vs)} parts not held", **ev)
    return _make(INCONCLUSIVE, f"{vs.count(INCONCLUSIVE)} of {len(vs)} parts inconclusive", **ev)


def not_tested(reason: str, **evidence) -> Verdict:
    """A claim this profile cannot test (e.g. needs ImageNet): inconclusive, with the reason."""
    return _make(INCONCLUSIVE, reason, **evidence)


def ci_only(reason: str = "ci: pipeline only") -> Verdict:
    return _make(INCONCLUSIVE, reason)


# ----------------------------------------------------------------------------- classification
def topk_errors(logits, targets, ks=(1, 5)) -> dict:
    """Top-k error rates (fractions) of a batch of logits; k larger than the class count is clamped."""
    import torch

    logits = torch.as_tensor(logits)
    targets = torch.as_tensor(targets)
    maxk = min(max(ks), logits.shape[1])
    pred = logits.topk(maxk, dim=1).indices
    correct = pred.eq(targets.view(-1, 1))
    return {f"top{k}_err": float(1.0 - correct[:, :min(k, maxk)].any(dim=1).float().mean()) for k in ks}
