"""03 Learning Features by Watching Objects Move: the studies the notebook runs (spec: docs/papers/03_watching_objects_move.md).

- :func:`build_data`: the clips (synthetic or a user's frame folders) and the static downstream images;
- :func:`pseudo_labels`: uNLC-lite on every clip (cached on disk), W1 IoUs of uNLC-lite and of two baselines
  (flow-magnitude threshold, centre prior) against the true masks, split by camera pan;
- :func:`pretrain`: the student (mask head, trimap loss) and the rotation baseline, same trunk and budget, on
  the pre-training clips (:func:`split_clips` holds the last ``heldout_clips`` out);
- :func:`w6_rows` / :func:`w6_table`: W6, the student's single-frame masks vs uNLC's on the held-out clips;
- :func:`transfer_grid`: fine-tuning on label fractions (W3) and with frozen trunk parts (W2), per seed;
- :func:`w5_rows` / :func:`w5_verdict`: W5, transfer vs the amount of pre-training video;
- :func:`claim_verdicts`: C1-C5 (and W5), computed; every trained contrast by ``stats.decide_trained(_paired)``.
  Detection transfer: :mod:`.watching_objects_move_detection`; figures and tables: :mod:`.watching_objects_move_report`.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..data.common import generated_dataset, manifest_hash
from ..data.fractions import label_fraction_indices
from ..data.video import load_clips, load_static, synthetic_video
from ..engine import TrainConfig, make_loader, train
from ..metrics import stats
from ..models.motion_student import MaskNet, RotNet, TransferNet, Trunk, student_config, trimap_bce
from ..motion import baselines as B
from ..motion.unlc import segment_video

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


# ----------------------------------------------------------------------------- data
def build_data(cfg, data_root=None) -> dict:
    """Clips + static images. data_root (dataset="folder") must hold frames/, optional masks/, static/."""
    if cfg.dataset == "synthetic":
        root = synthetic_video(n_clips=cfg.n_clips, n_frames=cfg.n_frames, size=cfg.frame_size,
                               num_classes=cfg.num_classes, pan_frac=cfg.pan_frac, n_static_train=cfg.n_static_train,
                               n_static_test=cfg.n_static_test, static_size=cfg.static_size, seed=cfg.data_seed)
    else:
        if data_root is None:
            raise ValueError("dataset='folder' needs data_root with frames/<clip>/, masks/<clip>/ (optional) and "
                             "static/{train,test}/<class>/")
        root = Path(data_root)
    clips = load_clips(root, max_clips=cfg.n_clips if cfg.dataset == "synthetic" else None)
    xtr, ytr, classes = load_static(root, "train")
    xte, yte, _ = load_static(root, "test")
    return dict(root=root, clips=clips, train=(xtr, ytr), test=(xte, yte), classes=classes)


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W): RGB/255, then ImageNet mean/std (the paper's transfer input)."""
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


# ----------------------------------------------------------------------------- W1: pseudo labels
def _unlc_kwargs(cfg) -> dict:
    return dict(n_segments=cfg.n_segments, sigma=cfg.sigma, F=cfg.nn_frames, L=cfg.nn_l, iters=cfg.vote_iters,
                chunks=cfg.vote_chunks, max_gap=cfg.max_gap)


def pseudo_labels(cfg, data: dict) -> dict:
    """uNLC-lite soft votes for every clip (cached under data_home, keyed by the video's content hash and the
    uNLC parameters), plus per-clip statistics: IoU vs true masks for uNLC / flow threshold / centre prior."""
    clips = data["clips"]
    if cfg.pseudo_source == "masks":
        if any(c["masks"] is None for c in clips):
            raise FileNotFoundError(f"pseudo_source='masks' needs masks/<clip>/ for every clip under {data['root']}")
        return dict(soft=[c["masks"].astype(np.float32) for c in clips], rows=[], seconds=0.0, cached=True)
    params = dict(video=manifest_hash(data["root"]) or str(data["root"]), n=len(clips), **_unlc_kwargs(cfg))
    t0 = time.time()
    timing = {}

    def gen(out: Path):
        for c in clips:
            r = segment_video(c["frames"], **_unlc_kwargs(cfg))
            np.savez_compressed(out / f"{c['name']}.npz", soft=r["soft"], fallback=r["fallback"],
                                dominant_frac=r["dominant_frac"],
                                kinds=np.array([r["pair_kinds"][k] for k in ("static", "translate", "none")]))
        timing["unlc_s"] = time.time() - t0

    root = generated_dataset("unlc_pseudo", params, gen, version=1)
    soft, rows = [], []
    for c in clips:
        z = np.load(root / f"{c['name']}.npz")
        s = z["soft"]
        soft.append(s)
        row = dict(clip=c["name"], pan=c["pan"] > 0, fallback=bool(z["fallback"]),
                   dominant_frac=float(z["dominant_frac"]), **dict(zip(("static", "translate", "none"),
                                                                       z["kinds"].tolist())))
        if c["masks"] is not None:
            from ..motion.unlc import final_mask
            pred = np.stack([final_mask(f) for f in s])
            row.update(iou_unlc=B.mask_iou(pred, c["masks"]),
                       iou_flow=B.mask_iou(B.flow_threshold_masks(c["frames"]), c["masks"]),
                       iou_centre=B.mask_iou(B.centre_prior_masks(*c["masks"].shape), c["masks"]))
        rows.append(row)
    return dict(soft=soft, rows=rows, seconds=timing.get("unlc_s"), cached="unlc_s" not in timing)


def w1_table(rows: list) -> list:
    """Mean IoU per method, overall and split by camera pan (rows of :func:`pseudo_labels`)."""
    out = []
    for name, sel in (("all", lambda r: True), ("static camera", lambda r: not r["pan"]),
                      ("camera pan", lambda r: r["pan"])):
        rs = [r for r in rows if sel(r) and "iou_unlc" in r]
        if not rs:
            continue
        out.append({"clips": name, "n": len(rs),
                    **{f"IoU {m}": float(np.mean([r[f"iou_{m}"] for r in rs])) for m in ("unlc", "flow", "centre")},
                    "fallback clips": sum(r["fallback"] for r in rs),
                    "dominant pairs %": 100 * sum(r["static"] + r["translate"] for r in rs)
                    / max(1, sum(r["static"] + r["translate"] + r["none"] for r in rs))})
    return out


# ----------------------------------------------------------------------------- pretext datasets
def jitter_crop(img: torch.Tensor, maps: torch.Tensor | None, size: int, scale, translate, gen: torch.Generator):
    """Random scale (zoom in [lo, hi]) and translation (+- translate of the frame) + horizontal flip of a
    (3, H, W) image and optional (H, W) map, resampled to size x size (bilinear)."""
    s = float(torch.empty(1).uniform_(scale[0], scale[1], generator=gen))
    tx, ty = (torch.rand(2, generator=gen) * 2 - 1) * 2 * translate
    flip = -1.0 if torch.rand(1, generator=gen) < 0.5 else 1.0
    theta = torch.tensor([[flip / s, 0.0, float(tx)], [0.0, 1.0 / s, float(ty)]]).unsqueeze(0)
    grid = F.affine_grid(theta, (1, 1, size, size), align_corners=False)
    x = F.grid_sample(img.unsqueeze(0), grid, mode="bilinear", padding_mode="reflection", align_corners=False)[0]
    if maps is None:
        return x, None
    m = F.grid_sample(maps[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]
    return x, m


class FrameDataset(Dataset):
    """Frames of all clips; item = jittered crop and (task="mask") its soft-vote map or (task="rotation") a
    rotation by k x 90 degrees and k. Length `length` (items drawn round-robin by index, seeded per item)."""

    def __init__(self, frames: torch.Tensor, soft: torch.Tensor | None, task: str, cfg, length: int, seed: int):
        self.frames, self.soft, self.task, self.cfg, self.length, self.seed = frames, soft, task, cfg, length, seed

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        j = int(torch.randint(len(self.frames), (1,), generator=g))
        img = (self.frames[j].float() / 255.0 - MEAN) / STD
        sm = self.soft[j] if self.task == "mask" else None
        x, m = jitter_crop(img, sm, self.cfg.crop_size, self.cfg.scale_jitter, self.cfg.translate_jitter, g)
        if self.task == "mask":
            return x, m
        k = int(torch.randint(4, (1,), generator=g))
        return torch.rot90(x, k, (1, 2)), k


def _frames_tensor(clips) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([c["frames"] for c in clips])).permute(0, 3, 1, 2).contiguous()


def _mask_step(model, batch, device):
    x, m = batch
    return trimap_bce(model(x.to(device)), m.to(device))


def _rot_step(model, batch, device):
    x, k = batch
    logits = model(x.to(device))
    k = k.to(device)
    return F.cross_entropy(logits, k), {"err": float((logits.argmax(1) != k).float().mean())}


def make_trunk(cfg) -> Trunk:
    return Trunk(student_config(cfg.widths, cfg.depths, cfg.stem_width, stem=cfg.stem))


def split_clips(cfg, n: int) -> tuple:
    """(pre-training clip indices, held-out clip indices): the last cfg.heldout_clips clips are held out (W6)."""
    if cfg.heldout_clips >= n:
        raise ValueError(f"heldout_clips={cfg.heldout_clips} leaves no clip to pre-train on: the data has {n} clips")
    k = n - cfg.heldout_clips
    return list(range(k)), list(range(k, n))


def video_subset(train_idx: list, fraction: float) -> list:
    """The first round(fraction x n) pre-training clips (at least one): nested subsets for W5."""
    return train_idx[:max(1, int(round(fraction * len(train_idx))))]


def pretrain(cfg, data: dict, pseudo: dict, method: str, device, seed: int, video_fraction: float = 1.0) -> dict:
    """Pre-train a trunk with the pretext of `method` ("motion": uNLC masks, "true_masks": the hidden true
    masks -- an upper bound -- or "rotation"); "random" returns a freshly initialised trunk. Only the pre-training
    clips (:func:`split_clips`) are used, and of those the first `video_fraction` (W5)."""
    torch.manual_seed(seed)
    trunk = make_trunk(cfg)
    if method == "random":
        return dict(trunk=trunk, loss=[], seconds=0.0)
    use = video_subset(split_clips(cfg, len(data["clips"]))[0], video_fraction)
    clips = [data["clips"][i] for i in use]
    frames = _frames_tensor(clips)
    tcfg = TrainConfig(epochs=1, optimizer="adamw", lr=cfg.pre_lr, weight_decay=cfg.pre_wd, warmup_epochs=0.05,
                       schedule="cosine", seed=seed, log_every=max(1, cfg.pre_steps // 5))
    n = cfg.pre_steps * cfg.pre_batch
    if method in ("motion", "true_masks"):
        if method == "motion":
            soft = torch.from_numpy(np.concatenate([pseudo["soft"][i] for i in use]).astype(np.float32))
        else:
            soft = torch.from_numpy(np.concatenate([c["masks"] for c in clips]).astype(np.float32))
        model, ds, step = MaskNet(trunk), FrameDataset(frames, soft, "mask", cfg, n, seed), _mask_step
    elif method == "rotation":
        model, ds, step = RotNet(trunk), FrameDataset(frames, None, "rotation", cfg, n, seed), _rot_step
    else:
        raise ValueError(f"unknown pre-training method {method!r}")
    loader = make_loader(ds, cfg.pre_batch, shuffle=False, seed=seed, num_workers=cfg.num_workers, drop_last=True)
    t0 = time.time()
    hist = train(model, loader, tcfg, device=device, step_fn=step, progress=False, desc=f"pretrain {method}")
    return dict(trunk=model.trunk.cpu(), model=model.cpu(), loss=hist["train_loss"], seconds=time.time() - t0,
                n_clips=len(clips))


# ----------------------------------------------------------------------------- W6: student vs teacher
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))


@torch.no_grad()
def student_probs(cfg, model: MaskNet, frames: np.ndarray, device, batch: int = 64) -> np.ndarray:
    """The student's foreground probability for (T, H, W, 3) uint8 frames: each whole frame resized to the training
    crop size (what an un-jittered training crop sees), sigmoid(logit) up-sampled to H x W."""
    model.eval().to(device)
    h, w = frames.shape[1:3]
    out = []
    for i in range(0, len(frames), batch):
        x = to_tensor(frames[i:i + batch]).to(device)
        x = F.interpolate(x, size=(cfg.crop_size, cfg.crop_size), mode="bilinear", align_corners=False,
                          antialias=True)
        p = torch.sigmoid(model(x))[:, None]
        out.append(F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)[:, 0].cpu())
    return torch.cat(out).numpy()


def calibrate_threshold(cfg, model: MaskNet, data: dict, pseudo: dict, device, max_clips: int = 20) -> float:
    """cfg.student_thresh, or (None) the threshold of :data:`THRESHOLDS` whose student masks agree best (mean IoU)
    with the pseudo masks on the first `max_clips` pre-training clips: only the teacher's labels, never the true
    masks, choose it (a student trained with a class-imbalanced BCE is under-confident, so 0.5 can be empty)."""
    from ..motion.unlc import final_mask

    if cfg.student_thresh is not None:
        return float(cfg.student_thresh)
    use = split_clips(cfg, len(data["clips"]))[0][:max_clips]
    probs = [student_probs(cfg, model, data["clips"][i]["frames"], device) for i in use]
    teach = [np.stack([final_mask(f) for f in pseudo["soft"][i]]) for i in use]
    score = [np.mean([B.mask_iou(p >= t, m) for p, m in zip(probs, teach)]) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(score))])


def w6_rows(cfg, data: dict, pseudo: dict, students: dict, device) -> list:
    """Per (seed, held-out clip): IoU of the student's masks (students[seed]: a MaskNet) and of uNLC's masks
    (when uNLC ran) against the true masks. Clips without true masks are skipped."""
    from ..motion.unlc import final_mask

    rows = []
    held = split_clips(cfg, len(data["clips"]))[1]
    for seed, model in sorted(students.items()):
        thr = calibrate_threshold(cfg, model, data, pseudo, device)
        for i in held:
            c = data["clips"][i]
            if c["masks"] is None:
                continue
            pred = student_probs(cfg, model, c["frames"], device) >= thr
            row = dict(seed=seed, clip=c["name"], pan=c["pan"] > 0, thresh=thr,
                       iou_student=B.mask_iou(pred, c["masks"]))
            if cfg.pseudo_source == "unlc":
                row["iou_unlc"] = B.mask_iou(np.stack([final_mask(f) for f in pseudo["soft"][i]]), c["masks"])
            rows.append(row)
    return rows


def w6_table(rows: list) -> list:
    """Mean IoU of student and teacher (uNLC) on the held-out clips, overall and by camera pan; the student's
    seed std is over the per-seed means (exploratory: no claim)."""
    out = []
    for name, sel in (("all", lambda r: True), ("static camera", lambda r: not r["pan"]),
                      ("camera pan", lambda r: r["pan"])):
        rs = [r for r in rows if sel(r)]
        if not rs:
            continue
        per_seed = [float(np.mean([r["iou_student"] for r in rs if r["seed"] == s]))
                    for s in sorted({r["seed"] for r in rs})]
        row = {"clips": name, "n clips": len({r["clip"] for r in rs}), "IoU student (mean over seeds)":
               float(np.mean(per_seed)), "student seed std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1
               else None, "seeds": len(per_seed), "student threshold (mean)": float(np.mean([r["thresh"] for r in rs]))
               if all("thresh" in r for r in rs) else None}
        if all("iou_unlc" in r for r in rs):
            teacher = float(np.mean([r["iou_unlc"] for r in rs if r["seed"] == rs[0]["seed"]]))
            row.update({"IoU uNLC (teacher)": teacher, "student - teacher": row["IoU student (mean over seeds)"]
                        - teacher})
        out.append(row)
    return out


# ----------------------------------------------------------------------------- transfer
class _Repeat(Dataset):
    """The labelled subset, cycled to `length` items, with a random flip and a +-4 px shift (seeded per item)."""

    def __init__(self, x, y, length, seed):
        self.x, self.y, self.length, self.seed = x, y, length, seed

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        j = int(torch.randint(len(self.x), (1,), generator=g))
        img = self.x[j]
        if torch.rand(1, generator=g) < 0.5:
            img = img.flip(-1)
        dy, dx = torch.randint(-4, 5, (2,), generator=g).tolist()
        return torch.roll(img, (dy, dx), (1, 2)), self.y[j]


@torch.no_grad()
def evaluate(model, x, y, device, batch: int = 256) -> np.ndarray:
    """Per-image correctness (0/1) of `model` on (x, y)."""
    model.eval()
    out = [model(x[i:i + batch].to(device)).argmax(1).cpu() for i in range(0, len(x), batch)]
    return (torch.cat(out) == y).float().numpy()


def finetune(cfg, trunk: Trunk, xtr, ytr, xte, yte, *, freeze: int, device, seed: int) -> np.ndarray:
    """Fine-tune a copy of `trunk` + a new linear classifier (first `freeze` trunk parts frozen) for
    cfg.ft_steps steps; the same optimiser, lr and steps for every initialisation. Returns per-image correctness."""
    torch.manual_seed(seed)
    model = TransferNet(copy.deepcopy(trunk), int(ytr.max()) + 1 if len(ytr) else 1, freeze=freeze)
    ds = _Repeat(xtr, ytr, cfg.ft_steps * cfg.ft_batch, seed)
    loader = make_loader(ds, cfg.ft_batch, shuffle=False, seed=seed, num_workers=cfg.num_workers, drop_last=True)
    tcfg = TrainConfig(epochs=1, optimizer="adamw", lr=cfg.ft_lr, weight_decay=cfg.ft_wd, warmup_epochs=0.05,
                       schedule="cosine", seed=seed, log_every=max(1, cfg.ft_steps))
    train(model, loader, tcfg, device=device, progress=False)
    return evaluate(model, xte, yte, device)


def transfer_grid(cfg, data: dict, trunks: dict, device) -> list:
    """Rows {method, seed, fraction, freeze, acc, correct (per test image)} for the W3 fractions (freeze 0) and
    the W2 freeze levels (at cfg.freeze_fraction). trunks[(method, seed)] -> Trunk."""
    xtr_all, ytr_all = to_tensor(data["train"][0]), torch.from_numpy(data["train"][1])
    xte, yte = to_tensor(data["test"][0]), torch.from_numpy(data["test"][1])
    jobs = sorted({(f, 0) for f in cfg.fractions} | {(cfg.freeze_fraction, k) for k in cfg.freeze_levels})
    rows = []
    for frac, freeze in jobs:
        idx = torch.from_numpy(label_fraction_indices(data["train"][1], frac, seed=cfg.data_seed))
        for (method, seed), trunk in trunks.items():
            t0 = time.time()
            correct = finetune(cfg, trunk, xtr_all[idx], ytr_all[idx], xte, yte, freeze=freeze, device=device,
                               seed=seed)
            rows.append(dict(method=method, seed=seed, fraction=frac, freeze=freeze, n_labelled=len(idx),
                             acc=float(correct.mean()), correct=correct, seconds=time.time() - t0))
    return rows


def w5_rows(cfg, data: dict, pseudo: dict, rows: list, device) -> list:
    """W5: motion pre-training on each of cfg.video_fractions of the pre-training clips, transfer at the smallest
    label fraction (all layers fine-tuned), per seed. The 100 % arm reuses the main grid's motion rows."""
    fmin = min(cfg.fractions)
    idx = torch.from_numpy(label_fraction_indices(data["train"][1], fmin, seed=cfg.data_seed))
    xtr, ytr = to_tensor(data["train"][0])[idx], torch.from_numpy(data["train"][1])[idx]
    xte, yte = to_tensor(data["test"][0]), torch.from_numpy(data["test"][1])
    out = []
    for vf in sorted(cfg.video_fractions):
        for seed in cfg.seeds:
            done = [r for r in _arm(rows, "motion", fmin, 0) if r["seed"] == seed] if vf == 1.0 else []
            if done:
                correct = done[0]["correct"]
            else:
                pre = pretrain(cfg, data, pseudo, "motion", device, seed=seed, video_fraction=vf)
                correct = finetune(cfg, pre["trunk"], xtr, ytr, xte, yte, freeze=0, device=device, seed=seed)
            n = len(video_subset(split_clips(cfg, len(data["clips"]))[0], vf))
            out.append(dict(method="motion", video_fraction=vf, n_clips=n, seed=seed, fraction=fmin, freeze=0,
                            acc=float(correct.mean()), correct=correct))
    return out


def w5_verdict(rows5: list, *, min_effect: float, seed: int = 0) -> stats.Verdict:
    """"Monotone gain": each step up in video (25 -> 50 -> 100 %) improves transfer, every step decided by
    :func:`stats.decide_trained_paired` (per-image correctness averaged over seeds, per-seed differences)."""
    vfs = sorted({r["video_fraction"] for r in rows5})
    if len(vfs) < 2:
        return stats.not_tested("W5 needs at least two video fractions")
    parts = []
    for lo_f, hi_f in zip(vfs, vfs[1:]):
        a = sorted((r for r in rows5 if r["video_fraction"] == lo_f), key=lambda r: r["seed"])
        b = sorted((r for r in rows5 if r["video_fraction"] == hi_f), key=lambda r: r["seed"])
        parts.append(stats.decide_trained_paired(
            np.mean([r["correct"] for r in a], 0), np.mean([r["correct"] for r in b], 0), expect="+",
            min_effect=min_effect, per_seed=[y["acc"] - x["acc"] for x, y in zip(a, b)], seed=seed,
            contrast=f"acc(motion, {100 * hi_f:g} % video) - acc(motion, {100 * lo_f:g} % video)"))
    return stats.combine(parts)


def _arm(rows, method, fraction, freeze):
    rs = sorted((r for r in rows if r["method"] == method and r["fraction"] == fraction and r["freeze"] == freeze),
                key=lambda r: r["seed"])
    return rs


def contrast(rows, a: str, b: str, fraction: float, freeze: int, *, min_effect: float, expect: str = "+",
             seed: int = 0) -> stats.Verdict:
    """mean acc(a) - acc(b) over seeds at (fraction, freeze), by :func:`stats.decide_trained_paired`: held / not
    held only if |diff| exceeds max(2 x seed std, min_effect) AND the paired bootstrap over test images
    (per-image correctness averaged over seeds), widened by the seed noise, excludes 0 on that side."""
    ra, rb = _arm(rows, a, fraction, freeze), _arm(rows, b, fraction, freeze)
    if not ra or not rb:
        return stats.not_tested(f"{a} or {b} not run at fraction {fraction}, freeze {freeze}")
    ca, cb = np.mean([r["correct"] for r in ra], 0), np.mean([r["correct"] for r in rb], 0)
    per_seed = [x["acc"] - y["acc"] for x, y in zip(ra, rb)]
    return stats.decide_trained_paired(cb, ca, expect=expect, min_effect=min_effect, per_seed=per_seed, seed=seed,
                                       contrast=f"acc({a}) - acc({b})", fraction=fraction, freeze=freeze,
                                       acc_a=[x["acc"] for x in ra], acc_b=[y["acc"] for y in rb])


def gap_rows(rows, cfg) -> list:
    """Motion minus each other method per (fraction, freeze): mean, per-seed std of the difference."""
    out = []
    others = [m for m in cfg.methods if m != "motion"]
    for frac, freeze in sorted({(r["fraction"], r["freeze"]) for r in rows}):
        m = _arm(rows, "motion", frac, freeze)
        for o in others:
            ro = _arm(rows, o, frac, freeze)
            d = [x["acc"] - y["acc"] for x, y in zip(m, ro)]
            if d:
                out.append(dict(fraction=frac, freeze=freeze, vs=o, gap=float(np.mean(d)),
                                seed_std=float(np.std(d, ddof=1)) if len(d) > 1 else None, n_seeds=len(d)))
    return out


# ----------------------------------------------------------------------------- claims
PAPER = {
    "C1": {"statement": "uNLC turns unlabeled video into pseudo ground-truth masks of moving objects [V]"},
    "C3": {"VOC07 detection mAP": "recalled, unverified (see docs/papers/03_watching_objects_move.md)"},
}


def _iou_contrast(clip_rows, baseline: str, min_effect: float, seed: int, label: str) -> stats.Verdict:
    """Paired bootstrap over clips of IoU(uNLC) - IoU(baseline), with a stated minimum."""
    rs = [r for r in clip_rows if "iou_unlc" in r]
    if len(rs) < 2:
        return stats.not_tested(f"{label}: fewer than 2 clips with true masks")
    a, b = [r[f"iou_{baseline}"] for r in rs], [r["iou_unlc"] for r in rs]
    diff, lo, hi = stats.paired_bootstrap(a, b, seed=seed)
    return stats.decide_diff(diff, lo, hi, expect="+", min_effect=min_effect, n=len(rs),
                             contrast=f"IoU(uNLC) - IoU({baseline}), {label}", iou_unlc=float(np.mean(b)),
                             iou_baseline=float(np.mean(a)))


def claim_verdicts(cfg, clip_rows: list, rows: list, seed: int = 0, rows5: list | None = None) -> dict:
    """{claim id: (statement, Verdict, paper dict)} from this run's numbers (clip_rows: pseudo_labels()["rows"];
    rows5: :func:`w5_rows`, adds "W5" when given)."""
    out = {}
    if not any("iou_unlc" in r for r in clip_rows):
        v1 = stats.not_tested("no true masks to measure the pseudo labels against")
    else:
        v1 = stats.combine([_iou_contrast(clip_rows, "flow", cfg.min_effect, seed, "all clips"),
                            _iou_contrast(clip_rows, "centre", cfg.min_effect, seed, "all clips"),
                            _iou_contrast([r for r in clip_rows if r["pan"]], "flow", cfg.min_effect, seed,
                                          "camera-pan clips")])
    out["C1"] = ("Motion gives free segment labels: uNLC-lite masks overlap the true moving objects better than a "
                 "flow-magnitude threshold and a centre prior (all clips, and under camera pan)", v1, PAPER["C1"])
    fmin = min(cfg.fractions)
    fmax = max(cfg.fractions)
    v2 = contrast(rows, "motion", "random", fmin, 0, min_effect=cfg.min_effect, seed=seed)
    out["C2"] = (f"A single-frame student trained on motion masks learns transferable features: fine-tuned at "
                 f"{100 * fmin:g} % labels it beats random init", v2, {})
    if "rotation" in cfg.methods:
        v3 = stats.combine([contrast(rows, "motion", "rotation", fmin, 0, min_effect=cfg.min_effect, seed=seed),
                            _gap_shrinks(rows, "random", fmin, fmax, cfg.min_effect)])
    else:
        v3 = stats.not_tested("rotation baseline not run")
    out["C3"] = (f"Motion pre-training beats another self-supervised pretext (rotation) at scarce labels "
                 f"({100 * fmin:g} %), and its gain over random init is larger at {100 * fmin:g} % than at "
                 f"{100 * fmax:g} % labels", v3, PAPER["C3"])
    kmax = max(cfg.freeze_levels)
    v4 = contrast(rows, "motion", "random", cfg.freeze_fraction, kmax, min_effect=cfg.min_effect, seed=seed) \
        if kmax > 0 else stats.not_tested("no frozen level run")
    out["C4"] = (f"Transfer beyond fine-tuning everything: with the first {kmax} trunk parts frozen (only the "
                 f"classifier and later parts train) at {100 * cfg.freeze_fraction:g} % labels, motion features beat "
                 "random ones (the paper's classification / segmentation transfer is not run here)", v4, {})
    if "true_masks" in cfg.methods:
        v5 = stats.combine([contrast(rows, "motion", "random", fmin, 0, min_effect=cfg.min_effect, seed=seed),
                            contrast(rows, "motion", "true_masks", fmin, 0, min_effect=cfg.min_effect, seed=seed,
                                     expect="-")])
        s5 = "part 2: the motion student trails the student trained on perfect masks"
    else:
        ious = [r["iou_unlc"] for r in clip_rows if "iou_unlc" in r]
        mean_iou = float(np.mean(ious)) if ious else None
        v5 = stats.combine([v2, stats.decide_all({"pseudo masks are noisy (mean IoU < 0.9)":
                                                  mean_iou is not None and mean_iou < 0.9}, mean_iou=mean_iou)])
        s5 = "the masks are noisy (IoU < 0.9) and still transfer"
    out["C5"] = ("Noisy labels are enough: trained with the trimap loss on noisy uNLC masks, the student still "
                 f"beats random init ({s5})", v5, {})
    if rows5:
        vfs = sorted({r["video_fraction"] for r in rows5})
        out["W5"] = (f"More unlabeled video helps: transfer at {100 * fmin:g} % labels grows monotonically with the "
                     f"pre-training video ({', '.join(f'{100 * v:g}' for v in vfs)} % of the clips)",
                     w5_verdict(rows5, min_effect=cfg.min_effect, seed=seed), {})
    return out


def _gap_shrinks(rows, other, fmin, fmax, min_effect) -> stats.Verdict:
    """(gap at fmin) - (gap at fmax) > 0 by :func:`stats.decide_trained` on the per-seed gap differences."""
    gmin = [x["acc"] - y["acc"] for x, y in zip(_arm(rows, "motion", fmin, 0), _arm(rows, other, fmin, 0))]
    gmax = [x["acc"] - y["acc"] for x, y in zip(_arm(rows, "motion", fmax, 0), _arm(rows, other, fmax, 0))]
    if not gmin or not gmax or fmin == fmax:
        return stats.not_tested("needs two label fractions")
    d = [a - b for a, b in zip(gmin, gmax)]
    return stats.decide_trained(float(np.mean(d)), expect="+", min_effect=min_effect, per_seed=d,
                                contrast=f"gap vs {other} at {fmin} minus gap at {fmax}")
