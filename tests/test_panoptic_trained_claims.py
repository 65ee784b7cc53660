"""04's trained contrasts (issue 16: 04's floor rule): C3 on the trained machine and C5's PQ^St drop are
decided by stats.decide_trained over the machine's training seeds -- one seed gives no seed std, hence
inconclusive; "not held" needs the floor max(2 x seed std, stated minimum) like "held". The machines here
are stand-ins (the spec's simulated machine at different noise seeds), so no training is needed."""
from dataclasses import asdict

import numpy as np
import pytest

from paperlib.config import get_config
from paperlib.experiments import panoptic_machine as pm
from paperlib.experiments import panoptic_report as pr
from paperlib.experiments import panoptic_segmentation as ps


@pytest.fixture(scope="module")
def study():
    cfg = get_config("04_panoptic_segmentation", "ci", dict(n_scenes=12, n_boot=200))
    cats = ps.categories()
    scenes = ps.make_scenes(cfg.n_scenes, cfg, seed=0)
    A, B = ps.annotator_pairs(scenes, cfg, 0, cats)
    sim = ps.AnnotatorNoise(**{**asdict(ps.noise_from_cfg(cfg)), "p_drop_thing": 0.6, "n_blobs": 5})

    def machine_at(seed):
        """The simulated machine's maps split into a semantic map + instances, merged like a trained one's."""
        pred = []
        for k, sc in enumerate(scenes):
            ids, segs = ps.annotate(sc, sim, np.random.default_rng([seed, 5, k]), cats)
            th = [g for g in segs if g["category_id"] in ps.thing_ids(cats)]
            pred.append({"semantic": ps.pan.semantic_from_panoptic(ids, segs),
                         "masks": np.array([ids == g["id"] for g in th], bool).reshape(len(th), *ids.shape),
                         "scores": np.full(len(th), 0.9), "labels": np.array([g["category_id"] for g in th], np.int64)})
        pp = pm.panoptic_predictions(pred, cfg, cats)
        return {"seed": seed, **{k: ps.evaluate([(a[0], a[1], q[0], q[1]) for a, q in zip(A, v)], cats)
                                 for k, v in pp.items()}}

    human = ps.evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    return cfg, human, {s: machine_at(s) for s in (0, 1, 2)}


def _machine(human, runs):
    return {"human": human, "per_seed": runs, **{k: runs[0][k] for k in ("stuff_only", "things_only", "merged")}}


def test_one_training_seed_is_inconclusive(study):
    cfg, human, runs = study
    v = pr.claim_c3(_machine(human, [runs[0]]), cfg)
    assert v.verdict == "inconclusive" and "one training seed" in v.reason
    assert v.evidence["per_seed"] and v.evidence["ci95_items"][0] is not None
    c5 = pr.claim_c5(_machine(human, [runs[0]]), cfg)
    assert c5.evidence["parts"][1]["verdict"] == "inconclusive"


def test_seed_std_enters_the_floor_on_both_sides(study):
    cfg, human, runs = study
    m = _machine(human, [runs[0], runs[1], runs[2]])
    v = pr.claim_c3(m, cfg)
    per_seed = v.evidence["per_seed"]
    assert len(per_seed) == 3 and v.evidence["seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    floor = max(2 * np.std(per_seed, ddof=1), cfg.min_effect("C3") / 100)
    assert v.evidence["floor"] == pytest.approx(floor)
    assert (v.verdict in ("held", "not held")) == (abs(v.evidence["diff"]) > floor and
                                                   (v.evidence["ci95"][0] > 0 or v.evidence["ci95"][1] < 0))
    # a contrast against the paper but within the floor is inconclusive (decide_diff would say "not held")
    cfg.min_effect_pts["C3"] = 100 * (abs(v.evidence["diff"]) + 1.0)
    assert pr.claim_c3(m, cfg).verdict == "inconclusive"
    cfg.min_effect_pts["C3"] = 2.0


def test_c5_exact_part_checks_every_seed(study):
    cfg, human, runs = study
    m = _machine(human, [runs[0], runs[1]])
    v = pr.claim_c5(m, cfg)
    assert v.evidence["parts"][0]["verdict"] == "held"         # things-only vs merged PQ^Th: equal at each seed
    bad = dict(runs[1], things_only=runs[0]["things_only"])    # seed 1's merged vs seed 0's things: differ
    assert runs[0]["things_only"]["res"]["Things"]["pq"] != runs[1]["merged"]["res"]["Things"]["pq"]
    assert pr.claim_c5(_machine(human, [runs[0], bad]), cfg).evidence["parts"][0]["verdict"] == "not held"
