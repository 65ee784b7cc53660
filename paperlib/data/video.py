"""Synthetic video clips of moving textured objects, written once in frame folders, plus static images.

Layout of the generated (or a user's) video folder, one sub-folder per clip (DAVIS-like)::

    <root>/frames/<clip>/00000.png ...      RGB frames (uint8)
    <root>/masks/<clip>/00000.png ...       true object masks (0/255) -- kept aside: measuring only
    <root>/clips.json                       per clip: classes of its moving objects, camera pan (px/frame)
    <root>/static/{train,test}/<class>/*.png  downstream ImageFolder: one still object on clutter

The objects are K shape classes (disk, square, triangle, cross, ring, diamond ...) with random colour
and stripe texture, over smoothed-noise backgrounds with static distractor blobs. Each clip has 1-2
objects moving 1-4 px/frame; a fraction of the clips also pans the camera (the background and the
objects shift together by the pan). The static downstream images (one larger object each) use a disjoint
background stream (another seed and palette), so no background or clip is shared with the pre-training video.

Nothing here is learned; masks are never used for training (only by the W1 / W6 measurements).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from .common import generated_dataset

__all__ = ["SHAPES", "synthetic_video", "load_clips", "load_static", "render_shape", "moving_clip",
           "static_image", "video_layout_error"]

SHAPES = ("disk", "square", "triangle", "cross", "ring", "diamond", "bar", "star")


def render_shape(kind: str, size: int, angle: float, h: int, w: int, cy: float, cx: float) -> np.ndarray:
    """Boolean mask (h, w) of shape `kind` of radius ~size/2 centred at (cy, cx), rotated by `angle`."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    r = size / 2.0
    if kind == "disk":
        return u * u + v * v <= r * r
    if kind == "square":
        return (np.abs(u) <= r * 0.85) & (np.abs(v) <= r * 0.85)
    if kind == "triangle":
        return (v <= r * 0.6) & (v >= -r + 1.7 * np.abs(u))
    if kind == "cross":
        return ((np.abs(u) <= r * 0.3) & (np.abs(v) <= r)) | ((np.abs(v) <= r * 0.3) & (np.abs(u) <= r))
    if kind == "ring":
        d = u * u + v * v
        return (d <= r * r) & (d >= (0.55 * r) ** 2)
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= r
    if kind == "bar":
        return (np.abs(u) <= r) & (np.abs(v) <= r * 0.35)
    if kind == "star":
        ang = np.arctan2(v, u)
        return np.sqrt(u * u + v * v) <= r * (0.55 + 0.45 * np.cos(5 * ang) ** 2)
    raise ValueError(f"unknown shape {kind!r}; choose from {SHAPES}")


def _smooth_noise(rng, h, w, scale, palette):
    """Smoothed random colour field (bilinear up-sampled coarse noise) in the palette's range."""
    gh, gw = max(2, h // scale), max(2, w // scale)
    coarse = rng.random((gh, gw, 3)).astype(np.float32)
    img = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR), np.float32) / 255
    lo, hi = palette
    return lo + (hi - lo) * img


def _background(rng, h, w, palette):
    bg = 0.6 * _smooth_noise(rng, h, w, 8, palette) + 0.4 * _smooth_noise(rng, h, w, 3, palette)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(2, 5)):   # static distractor blobs (not of any class)
        cy, cx = rng.random() * h, rng.random() * w
        ay, ax = rng.uniform(3, h / 6), rng.uniform(3, w / 6)
        m = ((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1
        bg[m] = rng.random(3) * (palette[1] - palette[0]) + palette[0]
    return bg


def _texture(rng, size):
    """A random colour with stripes (period 3-6 px, random direction): the object's appearance."""
    c1, c2 = rng.random(3), rng.random(3)
    period, ang = rng.uniform(3, 6), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size]
    t = (np.sin((np.cos(ang) * xx + np.sin(ang) * yy) * 2 * np.pi / period) > 0)[..., None]
    return np.where(t, c1, 0.5 * (c1 + c2)).astype(np.float32)


def _paste(img, mask, tex, cy, cx):
    h, w = mask.shape
    s = tex.shape[0]
    ys, xs = np.nonzero(mask)
    ty = np.clip((ys - cy + s / 2).astype(int), 0, s - 1)
    tx = np.clip((xs - cx + s / 2).astype(int), 0, s - 1)
    img[ys, xs] = tex[ty, tx]


def moving_clip(rng, *, size: int, n_frames: int, num_classes: int, pan: float, n_objects: int,
                speed=(1.0, 4.0), palette=(0.0, 1.0), velocities=None, pan_angle=None):
    """One clip: frames (T, H, W, 3) uint8, masks (T, H, W) bool, object classes, camera pan vector.

    The world background is larger than the frame; the camera moves by `pan` px/frame in a random
    direction (`pan_angle`, radians in image axes with y down, overrides it). Objects move in the world
    with speed `speed` px/frame relative to the background
    (`velocities` overrides: a list of (vy, vx) per object)."""
    h = w = size
    pdir = rng.uniform(0, 2 * np.pi)
    pdir = pdir if pan_angle is None else float(pan_angle)
    pv = np.array([np.sin(pdir), np.cos(pdir)]) * pan
    margin = int(np.ceil(abs(pan) * n_frames)) + 2
    world = _background(rng, h + 2 * margin, w + 2 * margin, palette)
    objs = []
    for k in range(n_objects):
        cls = int(rng.integers(num_classes))
        osz = int(rng.uniform(0.22, 0.36) * size)
        if velocities is not None:
            v = np.asarray(velocities[k], float)
        else:
            a = rng.uniform(0, 2 * np.pi)
            v = np.array([np.sin(a), np.cos(a)]) * rng.uniform(*speed)
        # start so that the object stays in view: centre +- half the travel
        travel = v * (n_frames - 1)
        lo = np.maximum(osz / 2 + 2, osz / 2 + 2 - travel)
        hi = np.minimum(size - osz / 2 - 2, size - osz / 2 - 2 - travel)
        p0 = np.array([rng.uniform(lo[i], hi[i]) if hi[i] > lo[i] else size / 2 - travel[i] / 2 for i in range(2)])
        objs.append(dict(cls=cls, size=osz, angle=rng.uniform(0, np.pi), p0=p0, v=v, tex=_texture(rng, osz + 2)))
    frames = np.zeros((n_frames, h, w, 3), np.uint8)
    masks = np.zeros((n_frames, h, w), bool)
    for t in range(n_frames):
        off = np.round(margin + pv * t).astype(int)
        img = world[off[0]:off[0] + h, off[1]:off[1] + w].copy()
        for o in objs:
            cy, cx = o["p0"] + o["v"] * t
            m = render_shape(SHAPES[o["cls"]], o["size"], o["angle"], h, w, cy, cx)
            _paste(img, m, o["tex"], cy, cx)
            masks[t] |= m
        frames[t] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return frames, masks, [o["cls"] for o in objs], pv.tolist()


def static_image(rng, *, size: int, cls: int, palette=(0.0, 1.0)) -> np.ndarray:
    """A still image of one object of class `cls` (0.5-0.75 of the image) on a smoothed-noise background: the
    downstream recognition task (objects larger than in the clips so that a small CNN learns it in a CPU budget)."""
    img = _smooth_noise(rng, size, size, 8, palette)
    osz = int(rng.uniform(0.5, 0.75) * size)
    cy, cx = rng.uniform(osz / 2 + 1, size - osz / 2 - 1, 2)
    m = render_shape(SHAPES[cls], osz, rng.uniform(0, np.pi), size, size, cy, cx)
    _paste(img, m, _texture(rng, osz + 2), cy, cx)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _write(path: Path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, compress_level=1)


def synthetic_video(*, n_clips: int = 120, n_frames: int = 12, size: int = 96, num_classes: int = 6,
                    pan_frac: float = 0.4, n_static_train: int = 2000, n_static_test: int = 500,
                    static_size: int = 64, seed: int = 0, root: Path | None = None) -> Path:
    """Generate (once) the clips + static images; returns the dataset folder (see module docstring)."""
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in [2, {len(SHAPES)}], got {num_classes}")
    params = dict(n_clips=n_clips, n_frames=n_frames, size=size, num_classes=num_classes, pan_frac=pan_frac,
                  n_static_train=n_static_train, n_static_test=n_static_test, static_size=static_size, seed=seed)

    def gen(out: Path):
        rng = np.random.default_rng([seed, 0])
        meta = {}
        for c in range(n_clips):
            name = f"clip{c:04d}"
            pan = float(rng.uniform(1.5, 3.0)) if rng.random() < pan_frac else 0.0
            fr, ms, classes, pv = moving_clip(rng, size=size, n_frames=n_frames, num_classes=num_classes,
                                              pan=pan, n_objects=int(rng.integers(1, 3)))
            for t in range(n_frames):
                _write(out / "frames" / name / f"{t:05d}.png", fr[t])
                _write(out / "masks" / name / f"{t:05d}.png", ms[t].astype(np.uint8) * 255)
            meta[name] = dict(classes=classes, pan=pv, pan_speed=pan)
        (out / "clips.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        srng = np.random.default_rng([seed, 1])      # disjoint stream: new backgrounds, new palette
        for split, n in (("train", n_static_train), ("test", n_static_test)):
            for i in range(n):
                cls = i % num_classes
                img = static_image(srng, size=static_size, cls=cls, palette=(0.05, 0.95))
                _write(out / "static" / split / f"{cls}_{SHAPES[cls]}" / f"{i:05d}.png", img)

    return generated_dataset("video_objects", params, gen, root=root, version=2)


def video_layout_error(root: Path) -> str:
    return (f"expected a video folder {root} with frames/<clip>/<frame>.png|jpg (one sub-folder per clip, "
            "frames sorted by name) and optionally masks/<clip>/<frame>.png (same names)")


def load_clips(root, *, with_masks: bool = True, max_clips: int | None = None, max_frames: int | None = None):
    """Read every clip of a video folder: list of dicts {name, frames (T,H,W,3) uint8, masks (T,H,W) bool|None,
    pan (px/frame, from clips.json when present)}."""
    root = Path(root)
    fdir = root / "frames"
    if not fdir.is_dir():
        raise FileNotFoundError(video_layout_error(root))
    meta = json.loads((root / "clips.json").read_text()) if (root / "clips.json").exists() else {}
    clips = []
    for cdir in sorted(p for p in fdir.iterdir() if p.is_dir())[:max_clips]:
        files = sorted(p for p in cdir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:max_frames]
        if not files:
            raise FileNotFoundError(f"clip folder {cdir} holds no frames; " + video_layout_error(root))
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
        masks = None
        mdir = root / "masks" / cdir.name
        if with_masks and mdir.is_dir():
            masks = np.stack([np.asarray(Image.open(mdir / (f.stem + ".png")).convert("L")) > 127 for f in files])
        m = meta.get(cdir.name, {})
        clips.append(dict(name=cdir.name, frames=frames, masks=masks, pan=float(m.get("pan_speed", 0.0)),
                          classes=m.get("classes")))
    if not clips:
        raise FileNotFoundError(f"no clips under {fdir}; " + video_layout_error(root))
    return clips


def load_static(root, split: str):
    """(images uint8 (N,H,W,3), labels int64, class names) of an ImageFolder split (root/static/<split>
    or root/<split>)."""
    root = Path(root)
    d = root / "static" / split if (root / "static" / split).is_dir() else root / split
    if not d.is_dir():
        raise FileNotFoundError(f"expected an ImageFolder at {root}/static/{split}/<class>/*.png (or {root}/{split})")
    classes = sorted(p.name for p in d.iterdir() if p.is_dir())
    imgs, labels = [], []
    for k, c in enumerate(classes):
        for f in sorted((d / c).iterdir()):
            imgs.append(np.asarray(Image.open(f).convert("RGB")))
            labels.append(k)
    return np.stack(imgs), np.asarray(labels, np.int64), classes
