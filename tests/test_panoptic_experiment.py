"""The panoptic-segmentation experiment pieces: scenes, simulated annotators, studies, claims, model."""
import dataclasses
import types

import numpy as np
import pytest
import torch

from paperlib.configs.panoptic_segmentation import Config
from paperlib.experiments import panoptic_machine as pm
from paperlib.experiments import panoptic_report as pr
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
    machine = pm.machine_study(scenes, cfg, torch.device("cpu"))
    assert machine["things_only"]["res"]["Things"]["pq"] == machine["merged"]["res"]["Things"]["pq"]
    chk = ps.exact_checks(None or __import__("tempfile").mkdtemp(), n_files=2, size=32)
    for v in (pr.claim_c1(human, chk), pr.claim_c2(human, cfg), pr.claim_c3(machine, cfg),
              pr.claim_c3(machine, cfg, "simulated"), pr.claim_c4(t4, cfg), pr.claim_c5(machine, cfg),
              pr.claim_c6(human, chk)):
        assert isinstance(v, Verdict)
    assert pr.claim_c1(human, chk).verdict == "held"
    assert pr.claim_c6(human, chk).verdict == "held"
    # the library-side form the notebook loops over: same verdicts, declared once
    cs = pr.claims(human, machine, chk, t4, cfg)
    assert [c["claim_id"] for c in cs] == ["C1", "C2", "C3", "C3_sim", "C4", "C5", "C6"]
    assert [c["verdict"] for c in cs] == [pr.claim_c1(human, chk), pr.claim_c2(human, cfg), pr.claim_c3(machine, cfg),
                                          pr.claim_c3(machine, cfg, "simulated"), pr.claim_c4(t4, cfg),
                                          pr.claim_c5(machine, cfg), pr.claim_c6(human, chk)]
    assert [c.get("trained", True) for c in cs] == [False, True, True, True, True, True, False]
    assert "(merged machine)" in cs[2]["statement"]
    no_machine = {k: v for k, v in machine.items() if k != "merged"}
    assert "(simulated machine)" in pr.claims(human, no_machine, chk, t4, cfg)[2]["statement"]
    # T1's "mean over seeds" row, without reading it back from the table
    t1 = ps.t1_rows(human)
    assert ps.human_pq(human) == t1[len(cfg.seeds)]["PQ"] and t1[len(cfg.seeds)]["setting"] == "mean over seeds"


def test_shift_seeds_in_place():
    from paperlib.config import shift_seeds
    cfg = Cfg(seeds=[0, 1, 2])
    assert shift_seeds(cfg, 10) is cfg and cfg.seeds == [10, 11, 12]
    assert shift_seeds(cfg, 0).seeds == [10, 11, 12]
    other = types.SimpleNamespace(lr=0.1)                   # a config without training seeds is left alone
    assert vars(shift_seeds(other, 3)) == {"lr": 0.1}


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
    out = pr.files_study(cfg, tmp_path)
    assert out["res"]["All"]["n"] > 0 and len(out["rows"]) == 1
    with pytest.raises(FileNotFoundError, match="layout"):
        pr.files_study(cfg, None)
    cfg.pred_json = None
    with pytest.raises(FileNotFoundError, match="pred_json"):
        pr.files_study(cfg, tmp_path)


def test_bucket_results_match_size_bucket_pq(scenes):
    cats = ps.categories()
    A, B = ps.annotator_pairs(scenes, Cfg(), 0, cats)
    ev = ps.evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    edges = ps.size_edges([a[1] for a in A])
    ref = pqm.size_bucket_pq(ev["images"], cats, edges, ["S", "M", "L"])
    for name, imgs in zip(("S", "M", "L"), pr.bucket_results(ev["images"], edges)):
        got = pqm.pq_from_counts(pqm.per_image_counts(imgs, [c["id"] for c in cats]).sum(0))
        assert int(got["n"]) == ref[name]["n"]
        if ref[name]["n"]:
            for m in ("pq", "sq", "rq"):
                assert float(got[m]) == pytest.approx(ref[name][m], abs=1e-12)


def test_claim_floors_follow_the_spec_rule(scenes):
    """Spec: held only if the sign matches and the size exceeds max(2 x seed std, a stated minimum);
    C4 also needs mIoU to change by < 2 points."""
    human = ps.human_study(scenes, Cfg(seeds=[0, 1, 2]))
    v = pr.claim_c2(human, Cfg(min_effect_pts={"C2": 0.0}))
    per_seed = v.evidence["per_seed_contrast"]
    assert v.evidence["seed_std"] == pytest.approx(float(np.std(per_seed, ddof=1)))
    high = pr.claim_c2(human, Cfg(min_effect_pts={"C2": 99.0}))     # a floor no contrast can pass
    assert high.verdict == "inconclusive" and high.evidence["min_effect"] == pytest.approx(0.99)
    if v.verdict == "held":
        assert "floor" in high.reason and "0.99" in high.reason

    t4 = ps.hallucination_study(scenes, Cfg())
    assert t4["confs"][(0, "none")].shape[0] == len(scenes)
    rows = {(r["blobs_per_image"], r["stuff_area_limit"]): r for r in t4["rows"]}
    # the per-image confusions add up to the reported mIoU
    ids = [c["id"] for c in ps.categories()]
    assert 100 * pqm.miou_from_confusion(t4["confs"][(10, "none")].sum(0), ids) == pytest.approx(rows[(10, 0)]["mIoU"])
    c4 = pr.claim_c4(t4, Cfg())
    assert len(c4.evidence["parts"]) == 2
    assert c4.evidence["mIoU_drop"] == pytest.approx(rows[(0, 0)]["mIoU"] - rows[(10, 0)]["mIoU"])
    tight = pr.claim_c4(t4, Cfg(miou_change_max_pts=1e-9))      # any mIoU change violates a ~0 tolerance
    assert tight.evidence["parts"][1]["verdict"] == "not held" and tight.verdict == "not held"
    huge = pr.claim_c4(t4, Cfg(min_effect_pts={"C4": 1e6}))
    assert huge.evidence["parts"][0]["verdict"] == "inconclusive"


def test_min_effect_config_is_validated():
    from paperlib.config import ConfigError, get_config
    with pytest.raises(ConfigError, match="unknown claim"):
        get_config("04_panoptic_segmentation", "default", {"min_effect_pts": {"C9": 1.0}})
    with pytest.raises(ConfigError, match=">= 0"):
        get_config("04_panoptic_segmentation", "default", {"min_effect_pts": {"C2": -1.0}})


# ----------------------------------------------------------------------------- T5 on user files (merge)
MERGE_CATS = [{"id": 1, "name": "person", "supercategory": "p", "isthing": 1, "color": [220, 20, 60]},
              {"id": 2, "name": "car", "supercategory": "v", "isthing": 1, "color": [0, 0, 142]},
              {"id": 3, "name": "sky", "supercategory": "s", "isthing": 0, "color": [70, 130, 180]},
              {"id": 4, "name": "grass", "supercategory": "s", "isthing": 0, "color": [0, 200, 0]},
              {"id": 5, "name": "tree", "supercategory": "s", "isthing": 0, "color": [0, 100, 0]}]


def _rle(mask):
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(r["size"]), "counts": r["counts"].decode("ascii")}


def _merge_files(root, *, fp_instance=False, tree_patch=False, sem_png=False):
    """GT: 2 images of 100x100 (sky / grass halves, a person on the sky, a car on the grass, a VOID
    column) written with the project's writer; predictions derived from it: a semantic results json
    (RLE per class, thing labels included as a real segmenter would give them; or PNG label maps) and
    an instance results json (the GT things at score 0.9, plus a junk instance at score 0.3).
    Perturbations: ``fp_instance`` adds a 400-px false car on the sky (score 0.8); ``tree_patch`` a
    400-px hallucinated tree region in the grass (below the 64^2 px stuff limit)."""
    from paperlib.data import panoptic as pan

    images, maps, segs = [], [], []
    for k in range(2):
        ids = np.zeros((100, 100), np.uint32)
        ids[:50, 1:] = 10
        ids[50:, 1:] = 11
        ids[10:20, 10 + k:20 + k] = 20
        ids[60:72, 50:62] = 30
        images.append({"id": k + 1, "file_name": f"img{k}.jpg", "height": 100, "width": 100})
        maps.append(ids)
        segs.append([{"id": 10, "category_id": 3}, {"id": 11, "category_id": 4},
                     {"id": 20, "category_id": 1}, {"id": 30, "category_id": 2}])
    pan.write_panoptic_dataset(root / "gt.json", images, maps, segs, MERGE_CATS)
    sem_res, inst_res = [], []
    (root / "sem").mkdir(exist_ok=True)
    for img, ids, sg in zip(images, maps, segs):
        sem = pan.semantic_from_panoptic(ids, sg)
        if tree_patch:
            sem[80:100, 10:30] = 5
        from PIL import Image
        Image.fromarray(sem.astype(np.uint8), mode="L").save(root / "sem" / f"img{img['id'] - 1}.png")
        for c in np.unique(sem).tolist():
            if c:
                sem_res.append({"image_id": img["id"], "category_id": c, "segmentation": _rle(sem == c)})
        for s in sg:
            if s["category_id"] in (1, 2):
                inst_res.append({"image_id": img["id"], "category_id": s["category_id"],
                                 "segmentation": _rle(ids == s["id"]), "score": 0.9})
        junk = np.zeros((100, 100), bool)
        junk[50:100, 0:60] = True                       # low score: dropped by the confidence threshold
        inst_res.append({"image_id": img["id"], "category_id": 1, "segmentation": _rle(junk), "score": 0.3})
        if fp_instance:
            fp = np.zeros((100, 100), bool)
            fp[0:20, 60:80] = True
            inst_res.append({"image_id": img["id"], "category_id": 2, "segmentation": _rle(fp), "score": 0.8})
    (root / "sem.json").write_text(__import__("json").dumps(sem_res))
    (root / "inst.json").write_text(__import__("json").dumps(inst_res))
    cfg = Cfg(dataset="files", gt_json="gt.json", semantic_pred="sem" if sem_png else "sem.json",
              instance_pred_json="inst.json", workers=1)
    return cfg


@pytest.mark.parametrize("sem_png", [False, True])
def test_files_merge_perfect_predictions_give_pq_1(tmp_path, sem_png):
    cfg = _merge_files(tmp_path, sem_png=sem_png)
    out = pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    assert out["limit"] == 4096.0                       # unscaled on real data
    assert out["merged"]["res"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)
    assert out["merged"]["res"]["Stuff"]["n"] == 2 and out["merged"]["res"]["Things"]["n"] == 2
    assert out["stuff_only"]["res"]["Stuff"]["pq"] == pytest.approx(1.0)
    assert out["things_only"]["res"]["Things"]["pq"] == pytest.approx(1.0)
    # the written prediction is valid COCO panoptic and re-scores identically
    for k in ("stuff_only", "things_only", "merged"):
        assert (tmp_path / "out" / f"panoptic_{k}" / "img0.png").is_file()
    again = pqm.pq_compute(tmp_path / "gt.json", out["paths"]["merged"], workers=1)
    assert again["All"] == out["merged"]["res"]["All"]
    rows = {r["setting"]: r for r in out["rows"]}
    assert rows["user files: merged (heuristic)"]["PQ"] == pytest.approx(100.0)
    assert "paper Cityscapes: merged" in rows


def test_files_merge_things_unchanged_stuff_drops_and_c5(tmp_path):
    cfg = _merge_files(tmp_path, fp_instance=True)
    out = pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    th_sep = out["things_only"]["res"]["Things"]["pq"]
    assert th_sep == pytest.approx((1 + 1 / 1.5) / 2)   # the false car costs PQ^Th
    assert out["merged"]["res"]["Things"]["pq"] == th_sep   # exactly unchanged by merging
    assert out["stuff_only"]["res"]["Stuff"]["pq"] == pytest.approx(1.0)
    assert out["merged"]["res"]["Stuff"]["pq"] == pytest.approx((4450 / 4850 + 1) / 2)  # the car takes sky
    v = pr.claim_c5(out, cfg, out["cats"])
    assert v.verdict == "held", v.reason
    c = pr.files_c5_claim(out, cfg)
    assert c["claim_id"] == "C5" and c["verdict"] == v and "user's semantic + instance" in c["statement"]


def test_files_merge_stuff_limit_drops_small_stuff(tmp_path):
    cfg = _merge_files(tmp_path, tree_patch=True)
    out = pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    merged = __import__("json").loads((tmp_path / "out" / "panoptic_merged.json").read_text())
    cats = {s["category_id"] for a in merged["annotations"] for s in a["segments_info"]}
    assert 5 not in cats and {1, 2, 3, 4} <= cats       # the 400-px tree region fell under 4096 px
    assert out["merged"]["res"]["Stuff"]["n"] == 2      # so it is no false positive
    cfg.stuff_area_limit = 0                            # without the limit it survives as an FP
    out0 = pr.files_merge_study(cfg, tmp_path, tmp_path / "out0")
    assert out0["merged"]["res"]["Stuff"]["n"] == 3
    assert out0["merged"]["res"]["per_class"][5]["fp"] == 2
    assert out0["merged"]["res"]["Stuff"]["pq"] < out["merged"]["res"]["Stuff"]["pq"]


def test_files_merge_missing_inputs_are_named(tmp_path):
    cfg = _merge_files(tmp_path)
    cfg.instance_pred_json = "preds/missing_instances.json"
    with pytest.raises(FileNotFoundError) as e:
        pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    assert "instance_pred_json" in str(e.value) and "missing_instances.json" in str(e.value)
    assert "COCO detection results" in str(e.value)
    cfg.instance_pred_json, cfg.semantic_pred = "inst.json", None
    with pytest.raises(FileNotFoundError, match="semantic_pred"):
        pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    cfg.semantic_pred = "no_such_sem"
    with pytest.raises(FileNotFoundError, match="no_such_sem"):
        pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    (tmp_path / "sem_png").mkdir()
    cfg.semantic_pred = "sem_png"                        # a label-map folder without the image's PNG
    with pytest.raises(FileNotFoundError, match="img0.png"):
        pr.files_merge_study(cfg, tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="layout"):
        pr.files_merge_study(cfg, None, tmp_path / "out")
