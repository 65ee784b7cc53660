"""Error distribution functions and design-space comparisons (Radosavovic et al., 2019 / 2020).

* :func:`edf` -- F(e) = (1/n) * sum_i 1[e_i < e] (paper Eq. 1, strict "<"), :func:`edf_curve` for
  plotting, :func:`normalized_edf` (error EDF with complexity-normalising weights, 2019 paper),
  :func:`edf_band` (pointwise 95 % bootstrap band).
* :func:`compare_spaces` -- two populations A and B (e.g. AnyNetX_A vs AnyNetX_E) by
  the difference of mean error, of the fraction of models within eps of the best model overall, and a
  signed KS statistic, each with a 95 % percentile-bootstrap interval over models (1,000 resamples,
  each space resampled independently). Sign convention: every contrast is "B minus A", and for the
  fraction and the KS statistic a positive value means *B is better*. :func:`decide_comparison`
  turns one contrast into a :class:`~paperlib.metrics.stats.Verdict`.
* :func:`empirical_bootstrap` -- the paper's footnote-4 bootstrap of the best x (25 % subsamples
  with replacement, x of the minimum-error pair, 10^4 repeats -> median and 95 % interval).
* :func:`fit_quantized_linear` / :func:`e_fit` -- the fit of the quantized linear rule
  (w0, wa, wm) to per-block widths by grid search, with e_fit = mean |log(pred / obs)|.
* :func:`best_of_m` -- random-search efficiency: the distribution of min error over m random models.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = ["edf", "edf_curve", "normalized_edf", "edf_band", "ks_signed", "frac_within",
           "compare_spaces", "decide_comparison", "empirical_bootstrap", "quantized_linear_widths",
           "fit_quantized_linear", "e_fit", "block_widths", "best_of_m"]


def _arr(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise ValueError("empty sample")
    return a


# ----------------------------------------------------------------------------- EDFs
def edf(errors: Sequence[float], x, weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """F(x) = sum_i w_i 1[e_i < x] / sum_i w_i (uniform weights: Eq. 1). Vectorised over ``x``."""
    e = _arr(errors)
    xs = np.asarray(x, dtype=float)
    if weights is None:
        s = np.sort(e)
        return np.searchsorted(s, xs, side="left") / e.size
    w = np.asarray(weights, dtype=float).ravel()
    order = np.argsort(e)
    s, cw = e[order], np.concatenate([[0.0], np.cumsum(w[order])])
    return cw[np.searchsorted(s, xs, side="left")] / cw[-1]


def edf_curve(errors: Sequence[float], weights: Optional[Sequence[float]] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
    """Step-plot points (xs, F) of the EDF: ``ax.step(xs, F, where="post")``. F jumps *after*
    each error (strict "<" at the error itself is the left limit)."""
    e = np.sort(_arr(errors))
    if weights is None:
        f = np.arange(1, e.size + 1) / e.size
    else:
        w = np.asarray(weights, dtype=float).ravel()[np.argsort(_arr(errors))]
        f = np.cumsum(w) / w.sum()
    return np.concatenate([[e[0]], e]), np.concatenate([[0.0], f])


def complexity_weights(complexity: Sequence[float], bins: int = 10,
                       range_: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """Weights making every (log-spaced) complexity bin contribute equally (sum 1)."""
    c = _arr(complexity)
    lo, hi = range_ if range_ is not None else (c.min(), c.max())
    if hi <= lo:
        return np.full(c.size, 1.0 / c.size)
    edges = np.geomspace(lo, hi, bins + 1) if lo > 0 else np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    w = 1.0 / counts[idx]
    return w / w.sum()


def normalized_edf(errors, complexity, x, bins: int = 10, range_=None) -> np.ndarray:
    """Error EDF with complexity-normalising weights (Radosavovic et al. 2019): models are re-weighted
    so each complexity bin has equal mass, removing differences in complexity distribution."""
    return edf(errors, x, complexity_weights(complexity, bins, range_))


def edf_band(errors: Sequence[float], x, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
             ) -> Tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile-bootstrap band (lo, hi) of F(x), resampling models."""
    e = _arr(errors)
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, e.size, size=(n_boot, e.size))
    boots = np.stack([edf(e[i], xs) for i in idx])
    return np.quantile(boots, alpha / 2, axis=0), np.quantile(boots, 1 - alpha / 2, axis=0)


# ----------------------------------------------------------------------------- comparisons
def ks_signed(a: Sequence[float], b: Sequence[float]) -> float:
    """Signed KS statistic: F_B - F_A at the point where |F_B - F_A| is largest (ties: the first,
    scanning errors upward). Positive: B has more models below some error level, i.e. B is better.
    |ks_signed| equals the two-sample KS statistic D."""
    a, b = _arr(a), _arr(b)
    xs = np.unique(np.concatenate([a, b]))
    # evaluate both EDFs just above every observed error (right limits: F(x+) = mean(e <= x))
    fa = np.searchsorted(np.sort(a), xs, side="right") / a.size
    fb = np.searchsorted(np.sort(b), xs, side="right") / b.size
    d = fb - fa
    return float(d[int(np.argmax(np.abs(d)))])


def frac_within(errors: Sequence[float], threshold: float) -> float:
    """Fraction of models with error <= threshold."""
    return float(np.mean(_arr(errors) <= threshold))


def compare_spaces(err_a: Sequence[float], err_b: Sequence[float], eps: Optional[float] = None,
                   n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Dict[str, object]:
    """Compare design spaces A and B by their models' errors.

    Returns ``{"n_a", "n_b", "eps", "threshold", "mean_diff": (d, lo, hi), "frac_diff": (...),
    "ks": (...), "ks_D", "ks_pvalue", "mean_a", "mean_b", "min_a", "min_b"}``:

    * mean_diff = mean(B) - mean(A) (negative: B better);
    * frac_diff = frac(B) - frac(A) of models with error <= best + eps, best = the lowest error of
      both spaces together (positive: B better); ``eps`` defaults to half the pooled std;
    * ks = :func:`ks_signed` (positive: B better); ``ks_pvalue`` from scipy's two-sample KS test.

    Intervals: percentile bootstrap over models (each space resampled independently, ``n_boot``
    resamples), the threshold of frac_diff kept fixed.
    """
    a, b = _arr(err_a), _arr(err_b)
    pooled = np.concatenate([a, b])
    if eps is None:
        eps = 0.5 * float(pooled.std(ddof=1)) if pooled.size > 1 else 0.0
    thr = float(pooled.min() + eps)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.size, size=(n_boot, a.size))
    ib = rng.integers(0, b.size, size=(n_boot, b.size))
    A, B = a[ia], b[ib]
    q = (alpha / 2, 1 - alpha / 2)

    def ci(v):
        lo, hi = np.quantile(v, q)
        return float(lo), float(hi)

    mean_boot = B.mean(1) - A.mean(1)
    frac_boot = (B <= thr).mean(1) - (A <= thr).mean(1)
    ks_boot = np.array([ks_signed(x, y) for x, y in zip(A, B)])
    out = {"n_a": int(a.size), "n_b": int(b.size), "eps": float(eps), "threshold": thr,
           "mean_a": float(a.mean()), "mean_b": float(b.mean()),
           "min_a": float(a.min()), "min_b": float(b.min()),
           "mean_diff": (float(b.mean() - a.mean()), *ci(mean_boot)),
           "frac_diff": (frac_within(b, thr) - frac_within(a, thr), *ci(frac_boot)),
           "ks": (ks_signed(a, b), *ci(ks_boot)), "n_boot": int(n_boot)}
    try:
        from scipy.stats import ks_2samp
        r = ks_2samp(a, b)
        out["ks_D"], out["ks_pvalue"] = float(r.statistic), float(r.pvalue)
    except Exception:  # pragma: no cover - scipy missing
        out["ks_D"], out["ks_pvalue"] = abs(out["ks"][0]), None
    return out


_EXPECT_B_BETTER = {"mean_diff": "-", "frac_diff": "+", "ks": "+"}


def decide_comparison(cmp: Dict[str, object], stat: str = "mean_diff", b_better: bool = True, **evidence):
    """Verdict (via :func:`paperlib.metrics.stats.decide_diff`) that B is better than A (``b_better``)
    or worse, on one contrast of :func:`compare_spaces`: held when the 95 % interval excludes 0 on
    the expected side. n per space goes into the evidence."""
    from .stats import decide_diff
    d, lo, hi = cmp[stat]
    exp = _EXPECT_B_BETTER[stat]
    if not b_better:
        exp = "+" if exp == "-" else "-"
    return decide_diff(d, lo, hi, expect=exp, n=int(min(cmp["n_a"], cmp["n_b"])), stat=stat,
                       n_a=cmp["n_a"], n_b=cmp["n_b"], **evidence)


# ----------------------------------------------------------------------------- bootstrap of best x
def empirical_bootstrap(x: Sequence[float], e: Sequence[float], frac: float = 0.25,
                        n_rep: int = 10_000, alpha: float = 0.05, seed: int = 0) -> Dict[str, object]:
    """Paper footnote 4: draw ``frac`` of the (x_i, e_i) pairs with replacement, keep the x of the
    minimum-error pair; repeat ``n_rep`` times. Returns median ("likely best" x), the 95 % interval
    (lo, hi) and the samples."""
    xa, ea = _arr(x), _arr(e)
    if xa.size != ea.size:
        raise ValueError("x and e must have the same length")
    m = max(1, int(round(frac * xa.size)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, xa.size, size=(n_rep, m))
    best = idx[np.arange(n_rep), np.argmin(ea[idx], axis=1)]
    s = xa[best]
    lo, med, hi = np.quantile(s, [alpha / 2, 0.5, 1 - alpha / 2])
    return {"median": float(med), "lo": float(lo), "hi": float(hi), "m": m, "n": int(xa.size),
            "samples": s}


def best_of_m(errors: Sequence[float], ms: Sequence[int], n_rep: int = 1000, alpha: float = 0.05,
              seed: int = 0) -> Dict[str, np.ndarray]:
    """Random-search efficiency: min error over m models drawn with replacement, for each m
    (median and 95 % interval over ``n_rep`` repeats)."""
    e = _arr(errors)
    rng = np.random.default_rng(seed)
    med, lo, hi = [], [], []
    for m in ms:
        mins = e[rng.integers(0, e.size, size=(n_rep, int(m)))].min(axis=1)
        l_, md, h_ = np.quantile(mins, [alpha / 2, 0.5, 1 - alpha / 2])
        med.append(md), lo.append(l_), hi.append(h_)
    return {"m": np.asarray(ms), "median": np.asarray(med), "lo": np.asarray(lo), "hi": np.asarray(hi)}


# ----------------------------------------------------------------------------- linear fit
def block_widths(widths: Sequence[int], depths: Sequence[int]) -> np.ndarray:
    """Per-block widths of a staged network (stage width repeated depth times)."""
    return np.repeat(np.asarray(widths, dtype=float), np.asarray(depths, dtype=int))


def quantized_linear_widths(w0, wa, wm, d: int, q: Optional[int] = None) -> np.ndarray:
    """Per-block widths of the quantized linear rule (Eqs 2-4): u_j = w0 + wa j,
    w_j = w0 * wm ** round(log(u_j / w0) / log(wm)) (rounded to a multiple of q when given).
    Broadcasts over array-valued w0, wa, wm (block index on the last axis)."""
    w0, wa, wm = (np.asarray(v, dtype=float)[..., None] for v in (w0, wa, wm))
    j = np.arange(d, dtype=float)
    u = w0 + wa * j
    ks = np.round(np.log(u / w0) / np.log(wm))
    w = w0 * np.power(wm, ks)
    if q:
        w = np.round(w / q) * q
    return w


def fit_quantized_linear(ws_block: Sequence[float], w0_grid=None, wa_grid=None, wm_grid=None,
                         q: Optional[int] = None) -> Dict[str, object]:
    """Grid search (w0, wa, wm) minimising e_fit = mean_j |log(pred_j / obs_j)| for the observed
    per-block widths ``ws_block`` (length d). Default grids: w0 = obs[0] * 2^[-1..1] (25 points),
    wa in {0} + geomspace(0.5, 512, 60), wm = linspace(1.2, 4.0, 57). (Absolute log error -- the
    paper's "mean log-ratio" does not say absolute or squared; recorded in the spec as uncertain.)"""
    obs = _arr(ws_block)
    d = obs.size
    w0_grid = np.asarray(w0_grid if w0_grid is not None else obs[0] * np.power(2.0, np.linspace(-1, 1, 25)))
    wa_grid = np.asarray(wa_grid if wa_grid is not None else np.concatenate([[0.0], np.geomspace(0.5, 512, 60)]))
    wm_grid = np.asarray(wm_grid if wm_grid is not None else np.linspace(1.2, 4.0, 57))
    W0, WA, WM = np.meshgrid(w0_grid, wa_grid, wm_grid, indexing="ij")
    pred = quantized_linear_widths(W0, WA, WM, d, q)
    err = np.abs(np.log(pred / obs)).mean(axis=-1)
    i = np.unravel_index(int(np.argmin(err)), err.shape)
    w0, wa, wm = float(W0[i]), float(WA[i]), float(WM[i])
    return {"e_fit": float(err[i]), "w0": w0, "wa": wa, "wm": wm,
            "pred": quantized_linear_widths(w0, wa, wm, d, q).ravel(), "obs": obs,
            "linear": w0 + wa * np.arange(d)}


def e_fit(widths: Sequence[int], depths: Sequence[int], **kw) -> float:
    """e_fit of a staged network (see :func:`fit_quantized_linear`)."""
    return fit_quantized_linear(block_widths(widths, depths), **kw)["e_fit"]
