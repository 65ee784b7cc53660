"""08 RegNet notebook sections (paperlib.experiments.regnet_report) on fake records and small inputs."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from paperlib.configs.regnet import PROFILES, Config
from paperlib.experiments import regnet_report as R
from paperlib.metrics.stats import Verdict
from paperlib.models.regnet import REGNET_TABLE

SPACES = ["AnyNetX_A", "AnyNetX_E", "RegNet"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture
def cfg():
    return replace(Config(**PROFILES["ci"]), n_boot=50, boot_reps=50)


def _record(space, i, err, *, status="ok", seconds=1.0):
    """A finished sweep record of a 3-stage model (shape of regnet.train_one + sweep)."""
    w0 = 16 + 8 * (i % 3)
    widths = [w0, 2 * w0, 4 * w0]
    depths = [1 + i % 2, 2, 2 + i % 3]
    arch = {"widths": widths, "depths": depths, "group_widths": [8, 8, 8 + 8 * (i % 2)],
            "bot_widths": list(widths)}
    sample = {"wm": 2.0 + 0.25 * (i % 4), "w0": float(w0), "wa": 10.0 + i} if space == "RegNet" else {}
    return {"status": status, "seconds": seconds,
            "config": {"space": space, "index": i, "arch": arch, "sample": sample},
            "result": {"err": err} if status == "ok" else None}


def _records(n=10, seed=0):
    rng = np.random.default_rng(seed)
    recs = []
    for k, sp in enumerate(SPACES):
        recs += [_record(sp, i, float(0.5 - 0.1 * k + 0.05 * rng.standard_normal()), seconds=1.0 + k)
                 for i in range(n)]
    recs.append(_record("RegNet", 99, 0.0, status="error"))
    return recs


def _all24():
    rows = [{"model": n, **{k: REGNET_TABLE[n][k] for k in ("flops", "params", "acts")}}
            for n in sorted(REGNET_TABLE, key=lambda n: REGNET_TABLE[n]["flops"])]
    return pd.DataFrame(rows)


def _timing():
    a = _all24()
    sub = a[a.model.isin(["regnetx_200mf", "regnetx_400mf", "regnety_200mf", "regnety_400mf"])].copy()
    sub["seconds"] = sub.acts / 1e8          # runtime exactly proportional to activations
    return sub.reset_index(drop=True)


# ----------------------------------------------------------------------------- section 1
def test_complexity_checks_flag_a_wrong_row():
    names = ["regnetx_200mf", "regnety_400mf"]
    df = pd.DataFrame([{"model": n, "widths": str(REGNET_TABLE[n]["widths"]),
                        "groups": str(REGNET_TABLE[n]["groups"])} for n in names])
    R.complexity_checks(df)
    assert df.rule_depths_ok.all() and df.widths_ok.all() and df.groups_ok.all()
    df.loc[1, "widths"] = "[1, 2, 3, 4]"
    R.complexity_checks(df)
    assert df.widths_ok.tolist() == [True, False] and df.groups_ok.all()


def test_space_size_table_and_verdict():
    from paperlib.design_spaces import PAPER_SPACE_SIZES
    sizes = R.space_size_table()
    assert list(sizes.columns) == ["space", "dim", "size (ours)", "size (paper)", "size exact count"]
    assert sizes.space.tolist() == list(PAPER_SPACE_SIZES)
    assert R.space_size_verdict(sizes).verdict == "held"
    bad = sizes.copy()
    bad.loc[0, "size (paper)"] *= 2
    assert R.space_size_verdict(bad).verdict != "held"


# ----------------------------------------------------------------------------- section 2
def test_sweep_blocks(cfg, tmp_path):
    d = R.data_spec(cfg, tmp_path)
    assert d == dict(name="synthetic", data_root=str(tmp_path), image_size=32, num_classes=10,
                     n_train=cfg.n_train, n_val=cfg.n_val, seed=cfg.data_seed)
    assert "n_train" not in R.data_spec(replace(cfg, dataset="cifar10"))
    assert R.data_spec(cfg)["data_root"] is None
    t = R.train_config(cfg)
    assert t["max_steps"] == 2 and t["schedule"] == "cosine" and t["amp"] is False
    # Precise-BN (pycls, 8,192 images, on in every profile) reaches the job only when turned on
    assert t["precise_bn_images"] == 8192 == Config().precise_bn_images
    assert "precise_bn_images" not in R.train_config(replace(cfg, precise_bn_images=0))
    assert R.default_sweep_dir(replace(cfg, sweep_dir=str(tmp_path)), "ci") == tmp_path
    assert R.default_sweep_dir(cfg, "ci").parts[-3:] == ("sweeps", "08_regnet", "ci")


def test_population_summary():
    pops = {"RegNet": [{"flops": 3.5e6, "draws": 1, "cfg": {"depths": [1, 2, 3], "widths": [8, 16, 32]}},
                       {"flops": 4.5e6, "draws": 7, "cfg": {"depths": [1], "widths": [8]}}]}
    (line,) = R.population_summary(pops)
    assert "n=2" in line and "3.50-4.50 M" in line and "draws until n: 7" in line and "d=[1, 2, 3]" in line


def test_population_table_and_metrics():
    recs = _records(4)
    errs = R.space_errors(recs, SPACES + ["AnyNetX_C"])
    assert [len(errs[s]) for s in SPACES] == [4, 4, 4] and len(errs["AnyNetX_C"]) == 0
    df = R.population_table(recs, errs)
    assert df.space.tolist() == SPACES          # the empty space has no row
    assert list(df.columns) == ["space", "n", "mean_err_%", "min_err_%", "median_err_%", "job_seconds_mean"]
    assert df.job_seconds_mean.tolist() == [1.0, 2.0, 3.0]
    assert np.isclose(df["mean_err_%"][0], 100 * errs["AnyNetX_A"].mean())
    m = R.population_metrics(errs)
    assert list(m)[:3] == ["AnyNetX_A_n", "AnyNetX_A_mean_err", "AnyNetX_A_min_err"]
    assert m["AnyNetX_C_n"] == 0 and m["AnyNetX_C_mean_err"] is None and m["AnyNetX_C_min_err"] is None
    assert m["RegNet_min_err"] == float(errs["RegNet"].min())


def test_space_comparisons(cfg):
    A, B, C, D, E = (f"AnyNetX_{c}" for c in "ABCDE")
    head = [(A, E), (E, "RegNet"), (A, "RegNet")]
    # the refinement steps between the AnyNetX spaces present, in the paper's order
    assert R.comparison_pairs([A, C, E, "RegNet"]) == head + [(A, C), (C, E)]
    assert R.comparison_pairs([A, B, C, D, E, "RegNet"]) == head + [(A, B), (B, C), (C, D), (D, E)]
    assert R.comparison_pairs([A, E, "RegNet", "RegNet_wm2"]) == head + [(A, "RegNet_wm2")]
    errs = R.space_errors(_records(6), SPACES)
    errs["AnyNetX_E"] = errs["AnyNetX_E"][:1]                # one model: pairs with E are skipped
    cmps = R.space_comparisons(errs, cfg, seed=0)
    assert list(cmps) == ["AnyNetX_A -> RegNet"]
    assert cmps["AnyNetX_A -> RegNet"]["mean_diff"][0] < 0  # RegNet errors are lower by construction
    v = R.comparison_verdicts(cmps)
    assert isinstance(v["AnyNetX_A -> RegNet"], Verdict)
    # trained-contrast rule: seed std = the bootstrap standard error, floor max(2 x it, MIN_EFFECT)
    d, lo, hi = -0.05, -0.09, -0.01
    one = {"x": {"mean_diff": [d, lo, hi], "n_a": 16, "n_b": 16}}
    v = R.comparison_verdicts(one)["x"]
    assert v.verdict == "held" and v.evidence["seed_std"] == pytest.approx(0.04 / 1.959963984540054)
    assert R.comparison_verdicts({"x": {**one["x"], "mean_diff": [0.05, 0.01, 0.09]}})["x"].verdict == "not held"
    small = R.comparison_verdicts({"x": {**one["x"], "mean_diff": [-0.008, -0.009, -0.007]}})["x"]
    assert small.verdict == "inconclusive" and "within max(2 x seed std" in small.reason   # below MIN_EFFECT
    assert R.comparison_verdicts({"x": {**one["x"], "mean_diff": [-0.03, -0.07, 0.01]}})["x"].verdict == "inconclusive"
    assert "eps = 0.02" in R.comparison_caption(cfg)


def test_edf_figure(cfg):
    fig = R.edf_figure(R.space_errors(_records(3), SPACES), cfg)
    assert "3-5 M MACs" in fig.axes[0].get_title()
    # six populations: two panels, the refinements and the RegNet comparison, same colour per space
    rng = np.random.default_rng(1)
    six = ["AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet"]
    errs = {sp: rng.uniform(0.3, 0.6, 5) for sp in six}
    fig = R.edf_figure(errs, cfg)
    left, right = fig.axes[:2]
    names = lambda ax: [t.get_text().split("] ")[1].split(" (")[0] for t in ax.get_legend().get_texts()]
    assert names(left) == six[:5] and names(right) == ["AnyNetX_A", "AnyNetX_E", "RegNet"]
    col = lambda ax, sp: [ln.get_color() for ln in ax.get_lines() if ln.get_label().split("] ")[1].startswith(sp)][0]
    assert col(left, "AnyNetX_E") == col(right, "AnyNetX_E")


# ----------------------------------------------------------------------------- sections 3, 4
def test_efit_section(cfg):
    recs = _records(4)
    ef = R.efit_section(recs, cfg)
    assert ef.fit_space == "AnyNetX_E" and "AnyNetX_E" in ef.caption
    assert ef.fits.group.tolist() == ["best", "worst"] and set(ef.fits.space) == {"AnyNetX_E"}
    assert len(ef.all_fit) == 12 and math.isfinite(ef.r_fit)
    assert len(ef.fig.axes) == 3
    # without AnyNetX_E the first space is fitted; no trained model at all still draws the figure
    other = R.efit_section(recs, replace(cfg, spaces=["RegNet"]))
    assert other.fit_space == "RegNet"
    empty = R.efit_section([], cfg)
    assert len(empty.fits) == 0 and math.isnan(empty.r_fit)


def test_random_search_figure():
    errs = R.space_errors(_records(5), SPACES)
    errs["AnyNetX_C"] = np.array([])
    bom, fig = R.random_search_figure(errs, seed=0)
    assert list(bom) == SPACES
    assert bom["RegNet"]["m"].tolist() == [1, 2, 4, 8, 16, 32]
    assert np.all(np.diff(bom["RegNet"]["median"]) <= 1e-12)   # best of more models is no worse


def test_trends_section(cfg):
    tr = R.trends_section(_records(10), cfg, seed=0)
    assert tr.trend_space == "RegNet" and len(tr.trend_recs) == 10
    assert set(tr.trends) == {"d", "wm", "w0", "wa", "g"}
    assert "median" in tr.trends["wm"] and "samples" not in tr.trends["wm"]
    assert tr.table().param.tolist() == list(tr.trends)
    assert R.trends_section(_records(2), replace(cfg, spaces=["AnyNetX_A"]), seed=0).trend_space == "AnyNetX_A"


# ----------------------------------------------------------------------------- section 5
def test_timing_analysis_slopes():
    rs, slopes = R.timing_analysis(_timing(), _all24(), seed=0)
    assert set(rs) == {"flops", "params", "acts"} and rs["acts"] > 0.99
    for fam in R.FAMILIES:
        s_acts, lo, hi = slopes[fam]["acts"]
        assert lo <= s_acts <= hi and 0.4 < s_acts < 0.8
        assert 0.6 < slopes[fam]["params"][0] < 0.9 and slopes[fam]["params"][1] > hi  # params grow faster


def test_timing_section_with_given_timings(cfg):
    t = R.timing_section(cfg, _all24(), "cpu", seed=0, tim=_timing())
    assert np.allclose(t.table.ms, 1000 * t.table.seconds)
    assert t.threads == cfg.timing_threads
    assert t.caption.startswith("Forward time (cpu, batch 2, 64 px, 1 thread(s)); Pearson r with time: flops ")
    assert len(t.fig.axes) == 4
    assert (t.device, t.device_type, t.device_name, t.device_label) == ("cpu", "cpu", None, "cpu")


def _cuda_timing():
    tim = _timing()
    tim["device"], tim["device_name"], tim["threads"] = "cuda:0", "NVIDIA H100 80GB HBM3", None
    return tim


def test_timing_section_labels_the_device_the_rows_were_timed_on(cfg):
    # rows timed on a GPU: the caption says so, whatever device the caller named
    t = R.timing_section(cfg, _all24(), "cpu", seed=0, tim=_cuda_timing())
    assert (t.device, t.device_type, t.threads) == ("cuda:0", "cuda", None)
    assert t.device_label == "cuda (NVIDIA H100 80GB HBM3)"
    assert t.caption.startswith("Forward time (cuda NVIDIA H100 80GB HBM3, batch 2, 64 px, synchronized, "
                                "median of 1); Pearson r")
    # rows timed on the CPU in a run whose device is CUDA: labelled cpu, not cuda
    cpu_rows = _timing()
    cpu_rows["device"] = "cpu"
    t = R.timing_section(cfg, _all24(), "cuda", seed=0, tim=cpu_rows)
    assert t.device == "cpu" and t.caption.startswith("Forward time (cpu, ")
    mixed = _cuda_timing()
    mixed.loc[0, "device"] = "cpu"
    with pytest.raises(ValueError, match="several devices"):
        R.timing_section(cfg, _all24(), "cpu", seed=0, tim=mixed)


def test_timing_section_measures_on_the_given_device(cfg, monkeypatch):
    import torch
    t = R.timing_section(replace(cfg, timing_models=["regnetx_200mf"], timing_image_size=32, timing_batch=1),
                         _all24(), torch.device("cpu"), seed=0)
    assert t.table.device.tolist() == ["cpu"] and t.device == "cpu" and t.threads == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        R.timing_section(cfg, _all24(), "cuda", seed=0)


# ----------------------------------------------------------------------------- section 6
def _claims(cfg, recs, tim=None, device_type="cpu", effnet=None, trend_records=None):
    errs = R.space_errors(recs, cfg.spaces)
    cmps = R.space_comparisons(errs, cfg, seed=0)
    bom, _ = R.random_search_figure(errs, seed=0)
    timing = R.timing_section(cfg, _all24(), "cpu", seed=0, tim=_timing() if tim is None else tim)
    return R.claims(errs=errs, cmps=cmps, verdict_cmp=R.comparison_verdicts(cmps),
                    v_sizes=R.space_size_verdict(R.space_size_table()), bom=bom,
                    r_fit=R.efit_section(recs, cfg).r_fit, timing=timing,
                    trends=R.trends_section(recs, cfg, seed=0, trend_records=trend_records), all24=_all24(), n_boot=cfg.n_boot,
                    seed=0, device_type=device_type, effnet=effnet)


def test_claims_shape_and_verdicts(cfg):
    cs = _claims(cfg, _records(6))
    assert [c["claim_id"] for c in cs] == ["C1", "C2", "C3", "C4", "C5"]
    assert [c["trained"] for c in cs] == [True, True, False, True, False]
    assert all(isinstance(c["verdict"], Verdict) for c in cs)
    by = {c["claim_id"]: c for c in cs}
    assert by["C1"]["evidence"]["n"] == {"AnyNetX_A": 6, "AnyNetX_E": 6, "RegNet": 6}
    assert set(by["C2"]["evidence"]["comparisons"]) == {"AnyNetX_E -> RegNet", "AnyNetX_A -> RegNet"}
    assert list(by["C2"]["evidence"]["best_of_m_median"]["RegNet"]) == ["1", "2", "4", "8", "16", "32"]
    assert by["C3"]["evidence"]["timing_models"] == 4
    # timed on the CPU: C3 says so in its evidence and its statement
    c3 = by["C3"]
    assert c3["evidence"]["timing_device"] == "cpu" and "timing_device_name" not in c3["evidence"]
    assert c3["evidence"]["timing_note"].startswith("timing measured on CPU, not the paper's GPU")
    assert c3["statement"].endswith("(Runtime measured here on CPU, not the paper's GPU.)")
    assert by["C4"]["evidence"] == {"trend_space": "RegNet", "n": 6}
    # C4's SE part is never trained here; C5's ImageNet accuracy neither
    assert by["C4"]["verdict"].verdict != "held" and by["C5"]["verdict"].verdict != "held"


def test_claim_c3_carries_the_timing_device_not_the_runs(cfg):
    # a CUDA run whose models were timed on a GPU
    c3 = {c["claim_id"]: c for c in _claims(cfg, _records(4), tim=_cuda_timing(), device_type="cuda")}["C3"]
    ev = c3["evidence"]
    assert ev["timing_device"] == "cuda" and ev["timing_device_name"] == "NVIDIA H100 80GB HBM3"
    assert "run_device" not in ev and "CPU" not in c3["statement"]
    assert ev["timing_note"] == "timing measured on GPU (NVIDIA H100 80GB HBM3), as in the paper"
    # a CUDA run whose timing rows came from the CPU: judged and labelled as CPU numbers
    cpu_rows = _timing()
    cpu_rows["device"] = "cpu"
    c3 = {c["claim_id"]: c for c in _claims(cfg, _records(4), tim=cpu_rows, device_type="cuda")}["C3"]
    assert c3["evidence"]["timing_device"] == "cpu" and c3["evidence"]["run_device"] == "cuda"
    assert "measured here on CPU" in c3["statement"]


def test_run_notes_name_the_timing_device(cfg):
    errs = R.space_errors(_records(4), cfg.spaces)
    gpu = R.timing_section(cfg, _all24(), "cpu", seed=0, tim=_cuda_timing())
    (_, note) = R.run_notes(cfg, errs, gpu)
    assert note.startswith("Fig 12 analogue is measured on cuda (NVIDIA H100 80GB HBM3) with synchronized")
    (_, note) = R.run_notes(cfg, errs, R.timing_section(cfg, _all24(), "cpu", seed=0, tim=_timing()))
    assert note.startswith("Fig 12 analogue is measured on cpu (runtime there tends to follow flops")
    first, _ = R.run_notes(replace(cfg, precise_bn_images=8192), errs, "cpu")
    assert first.endswith("Precise-BN: BN statistics recomputed on 8192 train images before every evaluation.")
    assert "Precise-BN" not in R.run_notes(replace(cfg, precise_bn_images=0), errs, "cpu")[0]


def test_claims_missing_space_is_not_tested(cfg):
    recs = [r for r in _records(4) if r["config"]["space"] != "AnyNetX_E"]
    cs = {c["claim_id"]: c for c in _claims(cfg, recs)}
    parts = cs["C1"]["verdict"].evidence["parts"]
    assert parts[0]["verdict"] == "held"                                      # Table 1 sizes
    assert parts[1] == {"verdict": "inconclusive", "reason": "AnyNetX_A -> AnyNetX_E: not run"}
    assert cs["C1"]["evidence"]["comparison"] is None


def test_claims_record_through_run(cfg, tmp_path):
    from paperlib.record import Run
    run = Run("08_regnet", profile="ci", device="cpu", out_dir=str(tmp_path))
    for c in _claims(cfg, _records(4)):
        run.claim(**c)
    assert [c["id"] for c in run.claims] == ["C1", "C2", "C3", "C4", "C5"]
    assert run.claims[0]["verdict"] == "inconclusive"      # trained claim at ci
    for note in R.run_notes(cfg, R.space_errors(_records(4), cfg.spaces), "cpu"):
        run.note(note)
    assert run.notes[0].startswith("Populations: AnyNetX_A n=4, AnyNetX_E n=4, RegNet n=4; 3-5 M MACs at 32 px")
    assert "measured on cpu" in run.notes[1]


def test_population_sizes_per_space_and_checks():
    from paperlib.config import ConfigError, get_config
    c = get_config("08_regnet", "default")
    assert c.spaces == ["AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet"]
    assert [c.n_models(s) for s in c.spaces] == [16, 8, 8, 8, 16, 16]
    assert get_config("08_regnet", "paper").n_models("AnyNetX_B") == 500     # every space n = 500
    for bad, msg in [({"n_by_space": {"AnyNetX_Q": 3}}, "unknown space 'AnyNetX_Q'"),
                     ({"spaces": ["Foo"]}, "unknown ['Foo']"),
                     ({"n_by_space": {"AnyNetX_B": 0}}, "need an integer >= 1")]:
        with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            get_config("08_regnet", "default", bad)


# ----------------------------------------------------------------------------- Table 4 timing (EfficientNet)
def _effnet_rows(device="cuda:0", ratios=(2.0, 4.5), spread=0.02, mode="infer", note=None):
    """effnet_pair_timing-shaped rows: EfficientNet-B0 / B5 against their RegNetY, ``ratios`` = time ratios."""
    from paperlib.experiments import regnet as ex
    rows = []
    for (eff, reg), ratio in zip([ex.EFFNET_PAIRS[0], ex.EFFNET_PAIRS[5]], ratios):
        reg_s = [0.010 * (1 + spread * k) for k in (-1, 0, 1, 0, 1)]
        eff_s = [ratio * t for t in reg_s[::-1]]
        d, lo, hi = ex.log_ratio_ci(eff_s, reg_s, n_boot=200)
        if note:
            d, lo, hi = float("nan"), None, None
        row = {"pair": f"{eff} / {reg}", "mode": mode, "batch": 64, "reps": 5, "device": device,
               "device_name": "NVIDIA H100 80GB HBM3" if device.startswith("cuda") else None, "note": note,
               "ratio": float(np.exp(d)), "log_ratio": d, "log_ratio_lo": lo, "log_ratio_hi": hi,
               "ratio_lo": None if lo is None else float(np.exp(lo)), "ratio_hi": None if hi is None else float(np.exp(hi)),
               "paper_ratio": ex.paper_time_ratio(eff, mode)}
        for side, name, ts in (("effnet", eff, eff_s), ("regnety", reg, reg_s)):
            row.update({side: name, f"{side}_px": ex.EFFNET_TABLE4[eff]["res"] if side == "effnet" else 224,
                        f"{side}_flops": 4e8, f"{side}_params": 5e6, f"{side}_acts": 7e6,
                        f"{side}_ms": 1000 * float(np.median(ts)), f"{side}_rep_seconds": ts})
        rows.append(row)
    return rows


def test_effnet_section_absent_without_pairs(cfg):
    assert R.effnet_section(cfg, "cpu") is None                  # ci: no effnet_pairs (or an empty list)
    c = replace(cfg)
    c.effnet_pairs = []
    assert R.effnet_section(c, "cpu") is None
    # C5 without the section: no timing part, no timing evidence
    c5 = {c["claim_id"]: c for c in _claims(cfg, _records(4))}["C5"]
    assert c5["evidence"] is None and len(c5["verdict"].evidence["parts"]) == 2
    assert "faster" not in c5["statement"]


def test_effnet_section_on_cpu_is_not_tested(cfg):
    """A real tiny run on the CPU: the table is drawn, the C5 timing part says CPU / not tested."""
    c = replace(cfg, timing_reps=1)
    c.effnet_pairs = [["efficientnet_b0", "regnety_400mf", 32]]
    sec = R.effnet_section(c, "cpu", seed=0)
    assert sec.device == "cpu" and sec.device_type == "cpu" and sec.device_name is None
    assert list(sec.table.columns) == R.EFFNET_COLUMNS and sec.table.pair.tolist() == ["efficientnet_b0 / regnety_400mf"]
    assert sec.table.effnet_px.tolist() == [32] and sec.table.regnety_px.tolist() == [224]
    assert math.isfinite(sec.ratios["infer"]["efficientnet_b0 / regnety_400mf"])
    assert sec.verdict.verdict == "inconclusive" and "CPU" in sec.verdict.reason and "not tested" in sec.verdict.reason
    assert sec.caption.startswith("Table 4 timing analogue") and "on cpu;" in sec.caption
    c5 = {c["claim_id"]: c for c in _claims(cfg, _records(4), effnet=sec)}["C5"]
    parts = c5["verdict"].evidence["parts"]
    assert len(parts) == 3 and parts[1]["verdict"] == "inconclusive" and "CPU" in parts[1]["reason"]
    assert c5["evidence"]["effnet_timing_device"] == "cpu" and "measured here on CPU" in c5["statement"]
    notes = R.run_notes(cfg, R.space_errors(_records(4), cfg.spaces), "cpu", sec)
    assert len(notes) == 3 and "measured on cpu" in notes[2] and "not tested" in notes[2]


def test_effnet_verdict_on_gpu_rows(cfg):
    # RegNetY clearly >= 1.5x faster on every pair: held, with the ratios and the device
    sec = R.effnet_section(cfg, "cpu", rows=_effnet_rows())
    assert sec.device == "cuda:0" and sec.device_name == "NVIDIA H100 80GB HBM3"
    v = sec.verdict
    assert v.verdict == "held" and v.evidence["max_ratio"] == pytest.approx(4.5)
    assert [p["verdict"] for p in v.evidence["parts"]] == ["held", "held"]
    assert sec.table.ratio.tolist() == pytest.approx([2.0, 4.5])
    c5 = {c["claim_id"]: c for c in _claims(cfg, _records(4), effnet=sec)}["C5"]
    assert c5["evidence"]["effnet_timing_device_name"] == "NVIDIA H100 80GB HBM3"
    assert c5["paper"]["effnet_vs_regnety_infer_ratio"]["efficientnet_b5 / regnety_8_0gf"] == pytest.approx(504 / 113)
    assert "CPU" not in c5["statement"] and c5["verdict"].verdict == "inconclusive"  # ImageNet accuracy untested
    # faster but below the ~1.5x reference: inconclusive; EfficientNet faster: not held
    assert R.effnet_section(cfg, rows=_effnet_rows(ratios=(1.2, 1.3))).verdict.verdict == "inconclusive"
    bad = R.effnet_section(cfg, rows=_effnet_rows(ratios=(0.6, 2.0))).verdict
    assert bad.verdict == "not held"
    assert {c["claim_id"]: c for c in _claims(cfg, _records(4), effnet=R.effnet_section(
        cfg, rows=_effnet_rows(ratios=(0.6, 2.0))))}["C5"]["verdict"].verdict == "not held"
    # a pair that ran out of GPU memory: recorded, inconclusive, never held
    oom = R.effnet_section(cfg, rows=_effnet_rows(note="CUDA out of memory at batch 64"))
    assert oom.verdict.verdict == "inconclusive" and oom.ratios["infer"]["efficientnet_b0 / regnety_400mf"] is None
    mixed = _effnet_rows() + _effnet_rows(device="cpu")
    with pytest.raises(ValueError, match="several devices"):
        R.effnet_section(cfg, rows=mixed)


def test_effnet_claims_record_through_run(cfg, tmp_path):
    from paperlib.record import Run
    run = Run("08_regnet", profile="ci", device="cpu", out_dir=str(tmp_path))
    sec = R.effnet_section(cfg, rows=_effnet_rows() + _effnet_rows(mode="train"))
    assert set(sec.ratios) == {"infer", "train"}
    run.table("table4_effnet_timing", sec.table, caption=sec.caption)
    for c in _claims(cfg, _records(4), effnet=sec):
        run.claim(**c)
    c5 = run.claims[-1]
    assert c5["id"] == "C5" and c5["evidence"]["effnet_time_ratios"]["train"]
    assert (run.out / "table4_effnet_timing.csv").exists()              # staged until finalize()
    run.finalize()
    assert (tmp_path / "08_regnet" / "table4_effnet_timing.csv").exists()


# ----------------------------------------------------------------------------- Fig 11 trend populations
REGIMES = [[3e6, 5e6], [5e6, 8e6]]


def _trend_record(i, regime, *, best_d=20, best_wm=2.5, status="ok"):
    """A finished trend-sweep RegNet record: depth d in 8..32, wm in 1.5..3.0; error smallest at
    (best_d, best_wm)."""
    d = 8 + i % 25
    wm = 1.5 + 0.125 * (i % 13)
    depths = [d // 3, d // 3, d - 2 * (d // 3)]
    arch = {"widths": [16, 32, 64], "depths": depths, "group_widths": [8, 8, 8], "bot_widths": [16, 32, 64]}
    err = 0.3 + 0.002 * (d - best_d) ** 2 + 0.05 * (wm - best_wm) ** 2
    return {"status": status, "seconds": 1.0,
            "config": {"space": "RegNet", "index": i, "arch": arch, "trend_regime": list(regime),
                       "sample": {"wm": wm, "w0": 16.0, "wa": 10.0 + i}},
            "result": {"err": err} if status == "ok" else None}


def _trend_records(n=60, best_d=(20, 20)):
    recs = [_trend_record(i, r, best_d=bd) for r, bd in zip(REGIMES, best_d) for i in range(n)]
    return recs + [_trend_record(99, REGIMES[0], status="error")]


@pytest.fixture
def tcfg(cfg):
    c = replace(cfg)
    c.trend_regimes, c.trend_n, c.trend_epochs, c.trend_lr = [list(r) for r in REGIMES], 3, 25, 0.1
    return c


def test_trends_without_regimes_reuse_the_edf_population(cfg):
    assert R.trend_regimes(cfg) == [] and cfg.trend_regimes == []        # ci: the EDF population
    a = R.trends_section(_records(10), cfg, seed=0)
    b = R.trends_section(_records(10), cfg, seed=0, trend_records=_trend_records())   # ignored
    assert a.regimes == b.regimes == [] and a.trends == b.trends and a.trend_recs == b.trend_recs
    assert a.table().columns.tolist()[0] == "param" and a.fig.axes[0].get_subplotspec().get_gridspec().nrows == 1
    c4 = {c["claim_id"]: c for c in _claims(cfg, _records(10))}["C4"]
    assert c4["evidence"] == {"trend_space": "RegNet", "n": 10}
    assert len(c4["verdict"].evidence["parts"]) == 3 and "(" not in c4["verdict"].evidence["parts"][0]["reason"][:12]


def test_trends_section_one_panel_row_per_regime(tcfg):
    with pytest.raises(ValueError, match="trend_records"):
        R.trends_section(_records(10), tcfg, seed=0)
    tr = R.trends_section(_records(10), tcfg, seed=0, trend_records=_trend_records())
    labels = [R.regime_label(r) for r in REGIMES]
    assert [g["label"] for g in tr.regimes] == labels == list(tr.trends)
    assert [len(g["trend_recs"]) for g in tr.regimes] == [60, 60] and len(tr.trend_recs) == 120
    assert all(r["config"]["trend_regime"] == REGIMES[k] for k, g in enumerate(tr.regimes) for r in g["trend_recs"])
    assert set(tr.trends[labels[0]]) == set(R.TREND_KEYS)
    assert tr.fig.axes[0].get_subplotspec().get_gridspec().nrows == 2 and len(tr.fig.axes) == 2 * len(R.TREND_KEYS)
    t = tr.table()
    assert t.regime.tolist() == [l for l in labels for _ in R.TREND_KEYS] and set(t.n) == {60}
    assert abs(tr.trends[labels[0]]["d"]["median"] - 20) <= 2


def test_claim_c4_judged_per_regime_on_the_trend_populations(tcfg):
    held = {c["claim_id"]: c for c in _claims(tcfg, _records(6), trend_records=_trend_records())}["C4"]
    parts = held["verdict"].evidence["parts"]
    assert len(parts) == 2 * 2 + 1                      # d and wm per regime + SE (not tested)
    assert [p["verdict"] for p in parts[:4]] == ["held"] * 4
    assert held["evidence"] == {"trend_space": "RegNet", "n": 120,
                                "regimes": {R.regime_label(r): 60 for r in REGIMES}}
    # a regime whose best depth is 30, not 20, refutes the trend "across regimes"
    bad = {c["claim_id"]: c for c in _claims(tcfg, _records(6), trend_records=_trend_records(best_d=(20, 30)))}["C4"]
    assert bad["verdict"].verdict == "not held"
    bp = bad["verdict"].evidence["parts"]
    assert [p["verdict"] for p in bp[:4]] == ["held", "held", "not held", "held"]
    assert "best d (5-8 M MACs)" in bp[2]["reason"]


def test_prepare_trend_sweep_reuses_the_job_machinery(cfg, tcfg, tmp_path):
    from types import SimpleNamespace
    run = SimpleNamespace(device=SimpleNamespace(type="cpu"))
    data = R.data_spec(cfg)
    base = R.SweepPrep({}, data, R.train_config(cfg), [], tmp_path, "h", 10, 5)
    assert R.prepare_trend_sweep(cfg, run, 0, base, verbose=False) is None
    tp = R.prepare_trend_sweep(tcfg, run, 0, base, verbose=False)
    assert list(tp.pops) == [R.regime_label(r) for r in REGIMES] and len(tp.configs) == 6
    assert tp.sweep_dir == tmp_path / "trends" and tp.data_hash == "h" and tp.data == data
    assert tp.train_cfg == {**R.train_config(cfg), "epochs": 25, "lr": 0.1}
    for c in tp.configs:
        lo, hi = c["trend_regime"]
        assert [lo, hi] in REGIMES and c["space"] == "RegNet" and c["train"] == tp.train_cfg
        assert c["batch_size"] == cfg.batch_size and c["device"] == "cpu"
    for label, r in zip(tp.pops, REGIMES):
        assert all(r[0] <= s["flops"] <= r[1] for s in tp.pops[label])
    with pytest.raises(ValueError, match="trend_regimes"):
        replace(cfg, trend_regimes=[[5e6, 3e6]])          # the Config refuses it
