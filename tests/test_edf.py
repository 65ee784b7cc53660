"""paperlib.metrics.edf: known answers on fixed arrays."""
import numpy as np
import pytest

from paperlib.metrics.edf import (best_of_m, block_widths, compare_spaces, decide_comparison, e_fit,
                                  edf, edf_band, edf_curve, empirical_bootstrap, fit_quantized_linear,
                                  ks_signed, normalized_edf, quantized_linear_widths)


def test_edf_strict_and_weights():
    e = [0.3, 0.5, 0.5, 0.9]
    assert edf(e, [0.3, 0.30001, 0.5, 0.50001, 0.9, 1.0, 0.0]).tolist() == [0, 0.25, 0.25, 0.75, 0.75, 1.0, 0]
    assert edf(e, 0.6, weights=[1, 1, 1, 5]) == pytest.approx(3 / 8)
    xs, f = edf_curve([0.5, 0.3])
    assert xs.tolist() == [0.3, 0.3, 0.5] and f.tolist() == [0, 0.5, 1.0]
    # complexity normalisation: two bins (1 and 100) each get half the mass
    assert normalized_edf([0.1, 0.2, 0.3, 0.9], [1, 1, 1, 100], 0.5, bins=2) == pytest.approx(0.5)
    lo, hi = edf_band(np.linspace(0, 1, 50), [0.5], n_boot=200)
    assert lo[0] < 0.5 < hi[0]


def test_ks_signed():
    a, b = [1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5]
    assert ks_signed(a, b) == pytest.approx(0.25)         # b better by one step
    assert ks_signed(b, a) == pytest.approx(-0.25)
    assert ks_signed([5, 6, 7], [1, 2, 3]) == 1.0
    assert ks_signed([1, 2], [1, 2]) == 0.0


def test_compare_spaces_known():
    a = np.arange(10.0)                 # 0 .. 9
    b = a - 5                           # clearly better
    c = compare_spaces(a, b, eps=0.5, n_boot=300)
    assert c["n_a"] == c["n_b"] == 10
    assert c["mean_diff"][0] == pytest.approx(-5)
    assert c["mean_diff"][2] < 0                       # CI excludes 0
    assert c["threshold"] == pytest.approx(-4.5)
    assert c["frac_diff"][0] == pytest.approx(0.1)     # only b's best is within eps of the best
    assert c["ks"][0] == pytest.approx(0.5)
    v = decide_comparison(c, "mean_diff")
    assert v.verdict == "held" and v.evidence["n_a"] == 10
    assert decide_comparison(c, "mean_diff", b_better=False).verdict == "not held"
    same = compare_spaces(a, a, n_boot=300)
    assert same["mean_diff"][0] == 0 and decide_comparison(same).verdict == "inconclusive"


def test_empirical_bootstrap_known():
    x = np.arange(100)
    r = empirical_bootstrap(x, -x, n_rep=2000)          # error decreases with x: best x is large
    assert r["m"] == 25 and r["median"] >= 95 and r["hi"] == 99
    r = empirical_bootstrap(np.full(40, 7.0), np.random.default_rng(0).random(40))
    assert r["median"] == r["lo"] == r["hi"] == 7.0
    bm = best_of_m(np.arange(10.0), [1, 10, 100], n_rep=500)
    assert bm["median"][-1] == 0.0 and bm["median"][0] > bm["median"][-1]


def test_linear_fit_recovers_rule():
    # a RegNet's own per-block widths (q = None) are fit perfectly
    w = quantized_linear_widths(48, 36.0, 2.5, 16).ravel()
    f = fit_quantized_linear(w, w0_grid=[24, 48, 96], wa_grid=[12.0, 36.0, 72.0], wm_grid=[2.0, 2.5, 3.0])
    assert f["e_fit"] == pytest.approx(0.0) and (f["w0"], f["wa"], f["wm"]) == (48, 36.0, 2.5)
    assert block_widths([8, 16], [2, 1]).tolist() == [8, 8, 16]
    # RegNetX-3.2GF stage widths (after q=8 rounding and compatibility) are nearly exact
    assert e_fit([96, 192, 432, 1008], [2, 6, 15, 2]) < 0.06
    # constant widths are fit exactly by wa = 0
    assert e_fit([64, 64], [3, 3]) == pytest.approx(0.0)


def test_trend_verdict_rules():
    from paperlib.experiments.regnet import trend_verdict
    bs = {"median": 20.0, "lo": 18.0, "hi": 22.0, "n": 12}
    assert trend_verdict(bs, 20, (1, 63), name="d").verdict == "held"
    assert trend_verdict({**bs, "lo": 3.0, "hi": 7.0}, 20, (1, 63)).verdict == "not held"
    assert trend_verdict({**bs, "lo": 3.0, "hi": 60.0}, 20, (1, 63)).verdict == "inconclusive"   # not located
    assert trend_verdict({**bs, "n": 3}, 20, (1, 63)).verdict == "inconclusive"                  # too few
    # the paper's value was never trained: nothing to refute
    assert trend_verdict({**bs, "lo": 3.0, "hi": 7.0}, 20, (1, 63), observed=[2, 5, 15]).verdict == "inconclusive"
