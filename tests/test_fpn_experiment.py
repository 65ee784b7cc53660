"""FPN experiment orchestration at a tiny scale: Table 1 / Table 3 rows, claims, figures."""
import dataclasses

import numpy as np
import pytest
import torch

from paperlib.config import get_config
from paperlib.experiments import fpn
from paperlib.metrics.stats import Verdict


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("PAPERLIB_DATA", str(tmp_path_factory.mktemp("data")))
    torch.set_num_threads(1)
    cfg = get_config("02_fpn", "ci", {"n_train": 4, "n_val": 3, "max_steps": 2, "n_boot": 20, "n_boot_ap": 5,
                                      "progress": False})
    data = fpn.load_data(cfg)
    rpn = {v: fpn.run_rpn(v, cfg, data, "cpu") for v in ("c4", "fpn", "no_lateral")}
    det = {v: fpn.run_detector(v, cfg, data, "cpu") for v in ("c4", "fpn")}
    return cfg, data, rpn, det


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_config_profiles():
    for p in ("ci", "default", "gpu", "paper"):
        c = get_config("02_fpn", p, {})
        assert set(c.rpn_variants) <= {"c4", "c5", "fpn", "bottom_up", "no_lateral", "finest"}
    assert fpn.anchor_sizes(get_config("02_fpn", "paper", {})) == (32, 64, 128, 256, 512)
    assert fpn.canonical_scale(get_config("02_fpn", "paper", {})) == 224
    d = get_config("02_fpn", "default", {})
    assert fpn.anchor_sizes(d) == (16, 32, 64, 128, 256) and fpn.canonical_scale(d) == 112


def test_tables_and_claims(small_run):
    cfg, data, rpn, det = small_run
    rows = fpn.table1_rows(rpn, cfg)
    assert [r["row"] for r in rows] == ["(a) conv4", "(c) FPN", "(e) top-down, no lateral"]
    assert all(0 <= r["AR@100"] <= 100 for r in rows)
    assert rows[1]["anchors"] == 3 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1)
    t3 = fpn.table3_rows(det)
    assert {r["row"] for r in t3} == {"(a) conv4", "(c) FPN"} and all(r["s/image"] > 0 for r in t3)
    fpn.paired_timing(det, data["val"], "cpu", repeats=1)
    assert all(len(r["times_paired"]) == 3 for r in det.values())
    for v in (fpn.claim_c1(rpn, cfg), fpn.claim_c2(rpn, cfg), fpn.claim_c3(det, cfg), fpn.claim_c4(det, cfg)):
        assert isinstance(v, Verdict)
    assert "small-object gain" in fpn.small_object_note(rpn, cfg)
    d = fpn.data_rows(data)
    assert d[0]["images"] == 4 and d[1]["images"] == 3
    assert sum(r["gt_boxes"] for r in fpn.level_histogram(data["coco_gt"], cfg)) == d[1]["instances"]


def test_figures(small_run):
    import matplotlib
    matplotlib.use("Agg")
    cfg, data, rpn, det = small_run
    for fig in (fpn.ar_curve(rpn, cfg), fpn.small_object_figure(data, rpn, det, cfg, n_images=2),
                fpn.level_figure(fpn.level_histogram(data["coco_gt"], cfg))):
        assert fig.axes


def test_exact_checks_hold():
    chk = fpn.exact_checks()
    assert fpn.exact_verdict(chk).verdict == "held"
    rows = fpn.pyramid_shapes(get_config("02_fpn", "ci", {}), size=64)
    assert [r["P shape"] for r in rows] == [(32, 16, 16), (32, 8, 8), (32, 4, 4), (32, 2, 2), (32, 1, 1)]
