"""Statistics shared by every notebook: mean±std, bootstrap intervals, and the claim verdict rules.

Verdicts are *computed*: a :class:`Verdict` can only be made by the decision functions below, and
``Run.claim`` accepts nothing else. The rule (every spec's "claim-check rule"):

* **held** - the contrast has the paper's sign and its 95 % interval excludes 0
  (with >= 2 seeds and no interval: |diff| > 2 x seed std);
* **not held** - the opposite sign clears the same bar;
* **inconclusive** - otherwise (inside the noise, or the profile too small to tell).

A *trained* contrast (A better than B after training) is decided by :func:`decide_trained` (or
:func:`decide_trained_paired`), the one rule that includes seed noise: the interval is widened by the
seed std of the contrast, held AND not held need |effect| > max(2 x seed std, a stated minimum), and a
contrast with no seed std (one seed and no recorded calibration, :func:`calibration_entry`) is
inconclusive. :func:`reconcile`: a verdict that differs between seeds is inconclusive at both.
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


Z95 = 1.959963984540054   # two-sided 95 % normal quantile (the seed term of decide_trained's interval)


def calibration_entry(calibration: dict | None, key: str) -> dict | None:
    """One contrast's seed calibration (``SEED_CALIBRATION[name][key]`` of a config module), checked:
    ``seed_std`` (finite, >= 0), ``per_seed`` (>= 3 measured contrasts, one per training seed) and
    ``command`` (the exact command that measured them). None when there is none for ``key``."""
    if not calibration or key not in calibration:
        return None
    e = calibration[key]
    std, per_seed, cmd = e.get("seed_std"), e.get("per_seed"), e.get("command")
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std >= 0):
        raise ValueError(f"seed calibration {key!r}: seed_std must be a finite number >= 0, got {std!r}")
    if not (isinstance(per_seed, (list, tuple)) and len(per_seed) >= 3):
        raise ValueError(f"seed calibration {key!r}: per_seed must list the contrast at >= 3 seeds, got {per_seed!r}")
    if abs(float(np.std(per_seed, ddof=1)) - std) > 1e-6 * max(1.0, std):
        raise ValueError(f"seed calibration {key!r}: seed_std {std} is not the std (ddof=1) of per_seed {per_seed}")
    if not (isinstance(cmd, str) and cmd.strip()):
        raise ValueError(f"seed calibration {key!r}: needs the command that measured it (command='...')")
    return e


def decide_trained(diff: float, lo: float | None = None, hi: float | None = None, *, expect: str,
                   min_effect: float, per_seed: Sequence[float] | None = None, calibration: dict | None = None,
                   seed_std: float | None = None, seed_std_source: str | None = None, n: int | None = None,
                   **evidence) -> Verdict:
    """The verdict rule of every *trained* contrast (A better than B after training): seed noise included.

    ``diff`` is the contrast (mean over the trained seeds), ``(lo, hi)`` an optional 95 % interval over the
    evaluation sample (e.g. a paired bootstrap over validation images). The seed std ``s`` of the contrast
    comes from, in this order: ``per_seed`` (this run's contrast at each of >= 2 training seeds: sample std),
    ``seed_std`` (a seed std this run measured otherwise; ``seed_std_source`` says how), or
    ``calibration`` (one entry of a config's ``SEED_CALIBRATION``, see :func:`calibration_entry`: the
    profile trains one seed and the std was measured once with three seeds). With none of them the
    contrast is **inconclusive**: one training run says nothing about the next.

    Interval: each half of (lo, hi) is widened in quadrature by the seed term 1.96 x s, i.e.
    ``lo' = diff - sqrt((diff - lo)^2 + (1.96 s)^2)`` (same above). ``s`` is the std of ONE run's contrast
    (not divided by sqrt(#seeds)): the interval is meant to cover what a rerun at another seed gives,
    so that a verdict survives regeneration. Without (lo, hi) the interval is diff +- 1.96 s.

    * **held** - the widened interval excludes 0 on the paper's side AND |diff| > max(2 x s, min_effect);
    * **not held** - the same two conditions against the paper (the floor applies to both sides);
    * **inconclusive** - otherwise."""
    if expect not in ("+", "-"):
        raise ValueError("expect must be '+' or '-'")
    if min_effect is None or not (math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0 (the stated minimum effect), got {min_effect!r}")
    if (lo is None) != (hi is None):
        raise ValueError("give both ends of the interval (lo, hi) or neither")
    ps = [float(x) for x in per_seed] if per_seed is not None else []
    if len(ps) >= 2:
        s, source = float(np.std(ps, ddof=1)), f"measured over {len(ps)} training seeds"
    elif seed_std is not None and math.isfinite(seed_std) and seed_std >= 0:
        s, source = float(seed_std), seed_std_source or "given"
    elif calibration is not None:
        s = float(calibration["seed_std"])
        source = f"calibration ({len(calibration['per_seed'])} seeds): {calibration['command']}"
    else:
        s, source = None, None
    sign = 1.0 if expect == "+" else -1.0
    ev = dict(diff=diff, ci95_items=[lo, hi] if lo is not None else None, seed_std=s, seed_std_source=source,
              min_effect=min_effect, n=n, **({"per_seed": ps} if ps else {}), **evidence)
    if diff is None or not math.isfinite(diff):
        return _make(INCONCLUSIVE, "no finite contrast", **ev)
    if s is None:
        return _make(INCONCLUSIVE, f"diff {diff:+.4g} from one training seed and no seed std (neither >= 2 seeds "
                                   "nor a recorded calibration): trained contrast untestable", **ev)
    floor = max(2 * s, min_effect)
    zs = Z95 * s
    if lo is not None:
        wlo, whi = diff - math.hypot(diff - lo, zs), diff + math.hypot(hi - diff, zs)
    else:
        wlo, whi = diff - zs, diff + zs
    ev.update(ci95=[wlo, whi], floor=floor)
    where = f"diff {diff:+.4g}, 95% CI with seed noise [{wlo:+.4g}, {whi:+.4g}]"
    side = sign * wlo > 0 and sign * whi > 0
    against = sign * wlo < 0 and sign * whi < 0
    big = abs(diff) > floor
    if side and big:
        return _make(HELD, f"{where} excludes 0 on the paper's side and |diff| > max(2 x seed std, min) = {floor:.4g}", **ev)
    if against and big:
        return _make(NOT_HELD, f"{where} excludes 0 against the paper and |diff| > max(2 x seed std, min) = {floor:.4g}",
                     **ev)
    if side or against:
        return _make(INCONCLUSIVE, f"{where} excludes 0, but |diff| is within max(2 x seed std, min) = {floor:.4g}", **ev)
    return _make(INCONCLUSIVE, f"{where} contains 0", **ev)


def decide_trained_paired(per_item_a: Sequence[float], per_item_b: Sequence[float], *, expect: str,
                          min_effect: float, n_boot: int = 1000, seed: int = 0, **kw) -> Verdict:
    """:func:`decide_trained` on mean(b) - mean(a) of paired per-item results of two trained models, with
    the paired bootstrap over items as the item interval (``kw``: the seed std source and evidence)."""
    diff, lo, hi = paired_bootstrap(per_item_a, per_item_b, n_boot=n_boot, seed=seed)
    return decide_trained(diff, lo, hi, expect=expect, min_effect=min_effect, n=len(per_item_a), **kw)


def reconcile(verdicts_by_seed: dict) -> dict:
    """One claim's verdicts at several training seeds ({seed: verdict string or Verdict}) -> the reconciled
    verdict: the common verdict if every seed agrees, else **inconclusive** (a verdict that differs between
    seeds is inconclusive at both). Returns {"verdict", "agree", "by_seed"}."""
    by = {k: (v.verdict if isinstance(v, Verdict) else v) for k, v in verdicts_by_seed.items()}
    bad = [v for v in by.values() if v not in (HELD, NOT_HELD, INCONCLUSIVE)]
    if bad:
        raise ValueError(f"unknown verdict(s) {bad}; expected {HELD!r}, {NOT_HELD!r} or {INCONCLUSIVE!r}")
    if not by:
        raise ValueError("reconcile needs at least one seed's verdict")
    agree = len(set(by.values())) == 1
    return {"verdict": next(iter(by.values())) if agree else INCONCLUSIVE, "agree": agree, "by_seed": by}


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
