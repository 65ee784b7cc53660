"""04 Panoptic Segmentation: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10,
item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile. gpu:
the spec's machine, paperlib's Panoptic FPN (issue 16 item 4: the profile's trunk, trained by
paperlib.engine.panoptic on the shared scene generator's COCO panoptic layout), on 64-px scenes for 2
optimizer steps at two training seeds. paper: dataset "files" -- GT in the COCO panoptic layout under data_root
(annotations/panoptic_val2017.json + PNGs), the user's panoptic prediction scored (files study) and the
user's semantic PNGs + instance results json merged with the paper's heuristic (T5 on the files)."""
import numpy as np
import pytest

from fakes import results, run_notebook_cells, write_coco_panoptic

SLUG = "04_panoptic_segmentation"
SMALL = dict(image_size=64, n_scenes=4, seeds=[0], n_train=8, epochs=1, max_steps=2, roi_epochs=1, batch_size=4,
             blob_counts=[0, 5], n_boot=20, max_objects=6, workers=1, machine_seeds=2, fpn_channels=16,
             fpn_batch_size=4)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_gpu_profile_trains_the_machine(tmp_path):
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=SMALL)
    cfg = ns["cfg"]
    assert (cfg.train_machine, cfg.machine, cfg.fpn_backbone, cfg.fpn_iters) == (True, "panoptic_fpn", "small", 15000)
    m = ns["machine"]
    assert m["machine_name"] == "Panoptic FPN" and [s["seed"] for s in m["per_seed"]] == [0, 1]
    assert m["train_seconds"] > 0 and len(m["train_seconds_per_seed"]) == 2
    p = m["preds"][0]
    assert p["sem_labels"].shape == (64, 64) and p["sem_labels"].max() <= 4          # other + 4 stuff classes
    assert set(p["labels"].tolist()) <= set(ns["ps"].thing_ids(ns["cats"]))
    assert 0.0 <= m["semantic_mIoU"] <= 1.0
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "gpu" and {"C2", "C3", "C4", "C5"} <= {c["id"] for c in res["claims"]}
    assert "machine: Panoptic FPN + heuristic" in set(ns["t6"]["setting"])


def test_panoptic_fpn_machine_is_paperlibs_model(tmp_path, monkeypatch):
    """The 04 machine is models/panoptic_fpn.PanopticFPN built and trained by the shared engine module."""
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_machine as pm
    from paperlib.experiments import panoptic_segmentation as ps
    from paperlib.models.panoptic_fpn import PanopticFPN

    cfg = get_config(SLUG, "gpu", dict(SMALL, n_train=4, max_steps=1))
    cats = ps.categories()
    tr = pm.train_fpn_machine(cfg, "cpu", cats, seed=0)
    assert isinstance(tr["model"], PanopticFPN) and tr["model"].loss_weight_sem == cfg.fpn_lambda_s
    rec = pm.fpn_recipe(cfg)
    assert (rec.min_size, rec.anchor_sizes, rec.canonical_scale) == (64, [8, 16, 32, 64, 128], 56)
    assert pm.fpn_recipe(get_config(SLUG, "gpu")).anchor_sizes == [32, 64, 128, 256, 512]
    preds = pm.predict_fpn_machine(tr, ps.make_scenes(2, cfg, seed=5), cfg, "cpu", cats)
    assert len(preds) == 2 and all((q["scores"] >= cfg.confidence_thr).all() for q in preds)
    assert set(np.unique(preds[0]["semantic"])) <= {0, *ps.stuff_ids(cats)}


def test_papers_share_no_experiments_code():
    """04's and 06's experiment modules do not import each other (the shared pieces live in paperlib/engine)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "paperlib" / "experiments"
    imp = re.compile(r"from\s+(?:\.|paperlib\.experiments\.)(panoptic\w*)\s+import|import\s+paperlib\.experiments\.(panoptic\w*)")
    for f in root.glob("panoptic*.py"):
        mine = "fpn" in f.stem
        for m in imp.finditer(f.read_text()):
            other = m.group(1) or m.group(2)
            assert ("fpn" in other) == mine, f"{f.name} imports {other}"


def test_paper_profile_scores_and_merges_the_users_files(tmp_path):
    root = write_coco_panoptic(tmp_path / "coco")
    over = dict(SMALL, pred_json="preds.json", semantic_pred="semantic", instance_pred_json="instances.json")
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=root)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.gt_json, cfg.train_machine) == ("files", "annotations/panoptic_val2017.json", False)
    assert ns["user"]["res"]["All"]["pq"] == pytest.approx(1.0)           # the prediction is the GT
    real = ns["real"]
    assert real["n_images"] == 3 and real["semantic_format"] == "png folder" and real["limit"] == 4096.0
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "paper"
    arts = {a.rsplit("/", 1)[-1] for a in res["artifacts"]}
    assert {"user_files_pq.csv", "table5_merge_user_files.csv"} <= arts, arts
