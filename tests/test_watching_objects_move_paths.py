"""03 Watching Objects Move: the gpu / paper code paths at toy scale on CPU, on small fake data written in the
real layouts (frames/<clip>/*.jpg, masks/<clip>/*.png, static/{train,test}/<class>/*.png)."""
import numpy as np
import pytest
from PIL import Image

from paperlib.config import get_config
from paperlib.data.video import moving_clip, static_image
from paperlib.experiments import watching_objects_move as X
from paperlib.experiments import watching_objects_move_report as R
from paperlib.metrics.stats import Verdict

pytestmark = pytest.mark.usefixtures("one_thread")

TOY = dict(n_segments=20, vote_iters=4, vote_chunks=2, widths=[8, 8, 8, 8], depths=[1, 1, 1, 1], stem_width=8,
           crop_size=32, pre_steps=2, pre_batch=4, ft_steps=2, ft_batch=4, seeds=[0, 1], fractions=[0.5, 1.0],
           freeze_levels=[0, 5], freeze_fraction=1.0, num_workers=0, threads=1, n_examples=2, heldout_clips=1,
           video_fractions=[0.5, 1.0], det_dataset="none")   # detection: tests/test_watching_objects_move_transfer.py


def _fake_folder(root, n_clips=2, n_frames=5, size=40, k=3):
    rng = np.random.default_rng(0)
    for c in range(n_clips):
        fr, ms, _, _ = moving_clip(rng, size=size, n_frames=n_frames, num_classes=k, pan=2.0 * c, n_objects=1)
        for t in range(n_frames):
            (root / "frames" / f"seq{c}").mkdir(parents=True, exist_ok=True)
            (root / "masks" / f"seq{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(fr[t]).save(root / "frames" / f"seq{c}" / f"{t:05d}.jpg", quality=95)
            Image.fromarray(ms[t].astype(np.uint8) * 255).save(root / "masks" / f"seq{c}" / f"{t:05d}.png")
    for split, n in (("train", 12), ("test", 6)):
        for i in range(n):
            d = root / "static" / split / f"class{i % k}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(static_image(rng, size=24, cls=i % k)).save(d / f"{i}.png")
    return root


def _pipeline(cfg, root):
    data = X.build_data(cfg, root)
    ps = X.pseudo_labels(cfg, data)
    pre = {(m, s): X.pretrain(cfg, data, ps, m, "cpu", seed=s) for s in cfg.seeds for m in cfg.methods}
    rows = X.transfer_grid(cfg, data, {k: v["trunk"] for k, v in pre.items()}, "cpu")
    assert all(p["n_clips"] == 1 for k, p in pre.items() if k[0] != "random")    # the held-out clip is not seen
    w6 = X.w6_table(X.w6_rows(cfg, data, ps, {s: pre[("motion", s)]["model"] for s in cfg.seeds}, "cpu"))
    assert w6[0]["n clips"] == 1 and w6[0]["seeds"] == 2 and 0 <= w6[0]["IoU student (mean over seeds)"] <= 1
    assert ("IoU uNLC (teacher)" in w6[0]) == (cfg.pseudo_source == "unlc")
    rows5 = X.w5_rows(cfg, data, ps, rows, "cpu")
    assert R.w5_table(rows5)[0]["clips"] == 1 and len(rows5) == 4
    claims = X.claim_verdicts(cfg, ps["rows"], rows, rows5=rows5)
    assert set(claims) == {"C1", "C2", "C3", "C4", "C5", "W5"}
    assert all(isinstance(v, Verdict) for _, v, _ in claims.values())
    assert {r["method"] for r in rows} == set(cfg.methods)
    assert all(0.0 <= r["acc"] <= 1.0 for r in rows)
    R.plot_transfer(rows, cfg)
    R.plot_examples(data["clips"], ps["soft"], cfg.n_examples)
    assert R.transfer_table(rows, freeze=0) and X.gap_rows(rows, cfg)
    return data, ps, rows


def test_paper_profile_on_a_user_folder_with_unlc(tmp_path):
    root = _fake_folder(tmp_path / "user")
    cfg = get_config("03_watching_objects_move", "paper", TOY)
    assert cfg.dataset == "folder"
    data, ps, rows = _pipeline(cfg, root)
    assert len(ps["soft"]) == 2 and ps["soft"][0].shape == (5, 40, 40)
    assert all("iou_unlc" in r for r in ps["rows"])          # masks/ present: W1 measured


def test_gpu_profile_with_user_masks_as_pseudo_labels_and_the_true_mask_arm(tmp_path):
    root = _fake_folder(tmp_path / "user")
    cfg = get_config("03_watching_objects_move", "gpu", {**TOY, "dataset": "folder", "pseudo_source": "masks"})
    assert "true_masks" in cfg.methods
    data, ps, rows = _pipeline(cfg, root)
    assert ps["rows"] == [] and ps["soft"][0].max() == 1.0


def test_folder_without_data_root_is_a_clear_error():
    cfg = get_config("03_watching_objects_move", "paper", TOY)
    with pytest.raises(ValueError, match="data_root"):
        X.build_data(cfg, None)
