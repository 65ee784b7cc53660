"""The panoptic-segmentation experiment pieces: scenes, simulated annotators, studies, claims, model."""
import dataclasses

import numpy as np
import pytest
import torch

from paperlib.configs.panoptic_segmentation import Config
from paperlib.experiments import panoptic_segmentation as ps
from paperlib.metrics import pq as pqm
from paperlib.metrics.stats import Verdict


SMALL = dict(image_size=48, n_scenes=6, max_objects=8, crowd_prob=0.3, seeds=[0, 1], small_area=60,
             blob_counts=[0, 10], n_train=8, width=8, epochs=1, batch_size=4, max_steps=2, min_instance_area=4,
             roi_epochs=1, progress=False, n_boot=30)


def Cfg(**kw):
    """The paper's Config at a tiny size (every field, validation and helpers of the real one)."""
    return Config(**{**SMALL, **kw})


@pytest.fixture(scope="module")
def scenes():
    return ps.make_scenes(6, Cfg(), seed=0)


def _consistent(ids, segs):
    present = set(np.unique(ids).tolist()) - {0}
    assert present == {s["id"] for s in segs}
    for s in segs:
        assert s["area"] == int((ids == s["id"]).sum())


def test_scenes_are_valid_panoptic(scenes):
    cats = {c["id"]: c for c in ps.categories()}
    for s in scenes:
        assert s["image"].shape == (48, 48, 3) and s["ids"].shape == (48, 48)
        _consistent(s["ids"], s["segments"])
        assert all(seg["category_id"] in cats for seg in s["segments"])
        assert (s["ids"] == 0).any()                    # the rim around things is VOID
    # a scene scored against itself is perfect (crowd excluded)
    r = pqm.pq_compute_arrays([(s["ids"], s["segments"], s["ids"], s["segments"]) for s in scenes], cats)
    assert r["All"]["pq"] == pytest.approx(1.0)


def test_zero_noise_annotator_is_identity_and_noise_is_seeded(scenes):
    cats = ps.categories()
    zero = ps.AnnotatorNoise(jitter_max_px=0, p_merge=0, p_split=0, p_cls=0, p_small=0)
    for s in scenes:
        ids, segs = ps.annotate(s, zero, np.random.default_rng(0), cats)
        assert np.array_equal(ids, s["ids"]) and segs == s["segments"]
    noisy = ps.AnnotatorNoise()
    a1 = ps.annotate(scenes[0], noisy, np.random.default_rng(5), cats)
    a2 = ps.annotate(scenes[0], noisy, np.random.default_rng(5), cats)
    a3 = ps.annotate(scenes[0], noisy, np.random.default_rng(6), cats)
    assert np.array_equal(a1[0], a2[0]) and not np.array_equal(a1[0], a3[0])
    _consistent(*a1)
    crowd = [s["id"] for s in scenes[0]["segments"] if s["iscrowd"]]
    for cid in crowd:                                     # crowd regions are never perturbed
        assert np.array_equal(a1[0] == cid, scenes[0]["ids"] == cid)


def test_stuff_blobs_only_on_stuff(scenes):
    cats = ps.categories()
    s = scenes[0]
    cat_of = {x["id"]: x["category_id"] for x in s["segments"]}
    stuff = set(ps.stuff_ids(cats))
    ids, _ = ps.add_stuff_blobs(s["ids"], dict(cat_of), 30, (4, 30), np.random.default_rng(0), cats, 10 ** 6)
    changed = ids != s["ids"]
    assert changed.any()
    before = np.vectorize(lambda i: cat_of.get(i, 0) in stuff)(s["ids"][changed])
    assert before.all()


def test_exact_checks_pass(tmp_path):
    chk = ps.exact_checks(str(tmp_path), n_files=2, size=32)
    for k in ("A1", "A2", "A3", "A4", "A5", "coco_roundtrip"):
        assert chk[k], k


def test_counts_bootstrap_helpers_match_engine(scenes):
    cats = ps.categories()
    A, B = ps.annotator_pairs(scenes, Cfg(), 0, cats)
    ev = ps.evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    cnt = pqm.per_image_counts(ev["images"], [c["id"] for c in cats]).sum(0)
    for key, sel in (("All", None), ("Things", [c["isthing"] == 1 for c in cats]),
                     ("Stuff", [c["isthing"] != 1 for c in cats])):
        got = pqm.pq_from_counts(cnt, sel)
        for m in ("pq", "sq", "rq"):
            assert float(got[m]) == pytest.approx(ev["res"][key][m], abs=1e-12)
        assert int(got["n"]) == ev["res"][key]["n"]


def test_studies_and_claims_small(scenes):
    cfg = Cfg()
    human = ps.human_study(scenes, cfg)
    assert human["uniqueness"]["segments_with_two_partners"] == 0
    assert human["identity_err"] < 1e-12
    assert len(ps.t1_rows(human)) == len(cfg.seeds) + 1 + 3
    t4 = ps.hallucination_study(scenes, cfg)
    assert len(t4["rows"]) == 2 * len(cfg.blob_counts)
    rows = {(r["blobs_per_image"], r["stuff_area_limit"]): r for r in t4["rows"]}
    assert rows[(10, 0)]["PQ_St"] <= rows[(0, 0)]["PQ_St"]
    torch.set_num_threads(1)
    machine = ps.machine_study(scenes, cfg, torch.device("cpu"))
    assert machine["things_only"]["res"]["Things"]["pq"] == machine["merged"]["res"]["Things"]["pq"]
    chk = ps.exact_checks(None or __import__("tempfile").mkdtemp(), n_files=2, size=32)
    for v in (ps.claim_c1(human, chk), ps.claim_c2(human, cfg), ps.claim_c3(machine, cfg),
              ps.claim_c3(machine, cfg, "simulated"), ps.claim_c4(t4, cfg), ps.claim_c5(machine, cfg),
              ps.claim_c6(human, chk)):
        assert isinstance(v, Verdict)
    assert ps.claim_c1(human, chk).verdict == "held"
    assert ps.claim_c6(human, chk).verdict == "held"


def test_stuff_limit_scaling():
    assert ps.stuff_limit(Cfg(image_size=128)) == pytest.approx(62.9, abs=0.05)
    assert ps.stuff_limit(Cfg(stuff_area_limit=10.0)) == 10.0


# ----------------------------------------------------------------------------- model
def test_fcn_shapes_and_boundary_target():
    from paperlib.models.segmentation import TinyPanopticFCN, boundary_target, panoptic_losses

    m = TinyPanopticFCN(num_semantic=10, num_things=6, width=8)
    out = m(torch.zeros(2, 3, 32, 32))
    assert out["sem"].shape == (2, 10, 32, 32) and out["thing"].shape == (2, 7, 32, 32)
    assert out["boundary"].shape == (2, 1, 32, 32)
    inst = torch.zeros(1, 5, 5, dtype=torch.long)
    inst[0, 1:4, 1:4] = 3
    b = boundary_target(inst)[0]
    assert b[2, 2] == 0 and b[1, 1] == 1 and b[0, 0] == 0 and b.sum() == 8
    sem = torch.zeros(2, 32, 32, dtype=torch.long)
    loss = panoptic_losses(out, sem, sem, sem)
    assert torch.isfinite(loss["loss"])


def test_instances_from_heads_components():
    from paperlib.models.segmentation import instances_from_heads

    logits = torch.full((3, 10, 10), -5.0)
    logits[0] = 5.0
    logits[1, 1:4, 1:4] = 10.0                 # class 1 blob
    logits[1, 6:9, 6:9] = 10.0                 # second class-1 blob
    logits[2, 1:4, 6:9] = 10.0                 # class 2 blob
    boundary = torch.full((1, 10, 10), -5.0)
    masks, scores, labels = instances_from_heads(logits, boundary, min_area=4)
    assert sorted(labels.tolist()) == [1, 1, 2]
    assert all(m.sum() == 9 for m in masks) and (scores > 0.9).all()
    assert not (masks.sum(0) > 1).any()


def test_files_study_on_written_coco_files(tmp_path):
    ps.exact_checks(str(tmp_path), n_files=2, size=32)            # writes gt.json / pred.json + PNGs
    cfg = Cfg()
    cfg.gt_json, cfg.pred_json, cfg.workers = "gt.json", str(tmp_path / "pred.json"), 1
    out = ps.files_study(cfg, tmp_path)
    assert out["res"]["All"]["n"] > 0 and len(out["rows"]) == 1
    with pytest.raises(FileNotFoundError, match="layout"):
        ps.files_study(cfg, None)
    cfg.pred_json = None
    with pytest.raises(FileNotFoundError, match="pred_json"):
        ps.files_study(cfg, tmp_path)


def test_bucket_results_match_size_bucket_pq(scenes):
    cats = ps.categories()
    A, B = ps.annotator_pairs(scenes, Cfg(), 0, cats)
    ev = ps.evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    edges = ps.size_edges([a[1] for a in A])
    ref = pqm.size_bucket_pq(ev["images"], cats, edges, ["S", "M", "L"])
    for name, imgs in zip(("S", "M", "L"), ps.bucket_results(ev["images"], edges)):
        got = pqm.pq_from_counts(pqm.per_image_counts(imgs, [c["id"] for c in cats]).sum(0))
        assert int(got["n"]) == ref[name]["n"]
        if ref[name]["n"]:
            for m in ("pq", "sq", "rq"):
                assert float(got[m]) == pytest.approx(ref[name][m], abs=1e-12)


def test_claim_floors_follow_the_spec_rule(scenes):
    """Spec: held only if the sign matches and the size exceeds max(2 x seed std, a stated minimum);
    C4 also needs mIoU to change by < 2 points."""
    human = ps.human_study(scenes, Cfg(seeds=[0, 1, 2]))
    v = ps.claim_c2(human, Cfg(min_effect_pts={"C2": 0.0}))
    per_seed = v.evidence["per_seed_contrast"]
    assert v.evidence["seed_std"] == pytest.approx(float(np.std(per_seed, ddof=1)))
    high = ps.claim_c2(human, Cfg(min_effect_pts={"C2": 99.0}))     # a floor no contrast can pass
    assert high.verdict == "inconclusive" and high.evidence["min_effect"] == pytest.approx(0.99)
    if v.verdict == "held":
        assert "floor" in high.reason and "0.99" in high.reason

    t4 = ps.hallucination_study(scenes, Cfg())
    assert t4["confs"][(0, "none")].shape[0] == len(scenes)
    rows = {(r["blobs_per_image"], r["stuff_area_limit"]): r for r in t4["rows"]}
    # the per-image confusions add up to the reported mIoU
    ids = [c["id"] for c in ps.categories()]
    assert 100 * pqm.miou_from_confusion(t4["confs"][(10, "none")].sum(0), ids) == pytest.approx(rows[(10, 0)]["mIoU"])
    c4 = ps.claim_c4(t4, Cfg())
    assert len(c4.evidence["parts"]) == 2
    assert c4.evidence["mIoU_drop"] == pytest.approx(rows[(0, 0)]["mIoU"] - rows[(10, 0)]["mIoU"])
    tight = ps.claim_c4(t4, Cfg(miou_change_max_pts=1e-9))      # any mIoU change violates a ~0 tolerance
    assert tight.evidence["parts"][1]["verdict"] == "not held" and tight.verdict == "not held"
    huge = ps.claim_c4(t4, Cfg(min_effect_pts={"C4": 1e6}))
    assert huge.evidence["parts"][0]["verdict"] == "inconclusive"


def test_min_effect_config_is_validated():
    from paperlib.config import ConfigError, get_config
    with pytest.raises(ConfigError, match="unknown claim"):
        get_config("04_panoptic_segmentation", "default", {"min_effect_pts": {"C9": 1.0}})
    with pytest.raises(ConfigError, match=">= 0"):
        get_config("04_panoptic_segmentation", "default", {"min_effect_pts": {"C2": -1.0}})
