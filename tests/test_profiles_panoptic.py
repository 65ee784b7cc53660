"""04 Panoptic Segmentation: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10,
item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile. gpu:
the trained machine (FCN + RoI classifier) with the profile's width and instance area, on 64-px scenes for
2 optimizer steps. paper: dataset "files" -- GT in the COCO panoptic layout under data_root
(annotations/panoptic_val2017.json + PNGs), the user's panoptic prediction scored (files study) and the
user's semantic PNGs + instance results json merged with the paper's heuristic (T5 on the files)."""
import pytest

from fakes import results, run_notebook_cells, write_coco_panoptic

SLUG = "04_panoptic_segmentation"
SMALL = dict(image_size=64, n_scenes=4, seeds=[0], n_train=8, epochs=1, max_steps=2, roi_epochs=1, batch_size=4,
             blob_counts=[0, 5], n_boot=20, max_objects=6, workers=1)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_gpu_profile_trains_the_machine(tmp_path):
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=SMALL)
    cfg = ns["cfg"]
    assert (cfg.train_machine, cfg.width, cfg.min_instance_area) == (True, 32, 60)
    assert "history" in ns["machine"] and 0.0 <= ns["machine"]["semantic_mIoU"] <= 1.0
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "gpu" and {"C2", "C3", "C4", "C5"} <= {c["id"] for c in res["claims"]}


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
