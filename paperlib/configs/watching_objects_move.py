"""03 Learning Features by Watching Objects Move (spec: docs/papers/03_watching_objects_move.md).

Pipeline: synthetic clips (or a user's frame folders) -> uNLC-lite pseudo masks -> a single-frame student
(AnyNet trunk + mask head, trimap loss) -> transfer to static-image classification with scarce labels,
against random init and rotation prediction on the same frames, same trunk, same budget.

Profiles:
- ``ci``: 4 clips x 8 frames at 64 px, 20 student / rotation steps, 20 transfer steps on 40 labelled images:
  the whole path, no trend.
- ``default``: the spec's CPU data (120 clips x 12 frames at 96 px, 6 classes, 40 % with camera pan; 2000 / 500
  static images), 2 seeds; uNLC with 150 superpixels per frame (400 on 96-px frames would leave ~23 px each);
  to fit 10 min on 2 cores: a 16-32-64 AnyNet at 40 px, 400 pretext steps, 200 transfer steps, label fractions
  1 / 10 / 100 % and frozen parts 0 / 4 (the spec's 5 % and conv1-3 levels run at gpu / paper). Knobs that shrink
  it: ``ft_steps`` (about half of the time), ``n_clips`` (uNLC, ~1.3 s CPU per clip), ``pre_steps``.
- ``gpu``: more clips, larger frames, 3 seeds, a wider trunk. Detection transfer (tiny Faster R-CNN) is not
  built: the transfer task stays classification (the notebook says so).
- ``paper``: a user's ``data_root`` (frames/, optional masks/ as pseudo labels, static/{train,test}).

Values are checked when the Config is built; a bad value raises ConfigError naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError

SLUG = "03_watching_objects_move"
TITLE = "Learning Features by Watching Objects Move (Pathak et al.; CVPR 2017)"

METHODS = ("motion", "rotation", "random", "true_masks")


@dataclass
class Config:
    # data: "synthetic" (embedded clips) | "folder" (data_root: frames/<clip>/, masks/<clip>/, static/{train,test})
    dataset: str = "synthetic"
    n_clips: int = 120
    n_frames: int = 12
    frame_size: int = 96
    num_classes: int = 6
    pan_frac: float = 0.4
    n_static_train: int = 2000
    n_static_test: int = 500
    static_size: int = 40
    data_seed: int = 0
    # uNLC-lite (the spec's values except n_segments; see the module docstring)
    pseudo_source: str = "unlc"        # "unlc" | "masks" (the folder's masks/ are the pseudo labels)
    n_segments: int = 150
    sigma: float = 5.0
    nn_frames: int = 15
    nn_l: int = 2
    vote_iters: int = 50
    vote_chunks: int = 5
    max_gap: int = 3
    # student trunk (AnyNet: simple stem s2 + stages) and the pretext trainings
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    depths: list[int] = field(default_factory=lambda: [1, 1, 1])
    stem_width: int = 16
    crop_size: int = 40
    scale_jitter: list[float] = field(default_factory=lambda: [0.8, 1.25])
    translate_jitter: float = 0.1
    pre_steps: int = 400
    pre_batch: int = 32
    pre_lr: float = 2e-3
    pre_wd: float = 1e-4
    pretrain_per_seed: bool = True     # False: one pre-training shared by the transfer seeds
    # transfer (classification of static images)
    methods: list[str] = field(default_factory=lambda: ["motion", "rotation", "random"])
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])   # spec also 5 %: time
    freeze_levels: list[int] = field(default_factory=lambda: [0, 4])   # trunk parts frozen (stem, s1, ...)
    freeze_fraction: float = 0.1
    ft_steps: int = 200
    ft_batch: int = 32
    ft_lr: float = 2e-3
    ft_wd: float = 1e-4
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    min_effect: float = 0.02           # accuracy: smallest contrast counted as an effect
    n_examples: int = 4
    threads: int = 1                  # torch threads (0 = leave torch's default); 1 is fastest for these small nets
    num_workers: int = 0

    def __post_init__(self):
        def bad(name, valid):
            raise ConfigError(f"{SLUG}: {name}={getattr(self, name)!r} is invalid; valid: {valid}")

        if self.dataset not in ("synthetic", "folder"):
            bad("dataset", "'synthetic' or 'folder'")
        if self.pseudo_source not in ("unlc", "masks"):
            bad("pseudo_source", "'unlc' or 'masks'")
        for k, lo in (("n_clips", 1), ("n_frames", 2), ("frame_size", 16), ("n_static_train", 2),
                      ("n_static_test", 1), ("static_size", 16), ("n_segments", 4), ("nn_frames", 1), ("nn_l", 1),
                      ("vote_iters", 1), ("vote_chunks", 1), ("max_gap", 1), ("stem_width", 1), ("crop_size", 16),
                      ("pre_steps", 1), ("pre_batch", 1), ("ft_steps", 1), ("ft_batch", 1), ("threads", 0),
                      ("num_workers", 0), ("n_examples", 1)):
            if getattr(self, k) < lo:
                bad(k, f">= {lo}")
        if not 2 <= self.num_classes <= 8:
            bad("num_classes", "2..8 (the shape classes of paperlib.data.video)")
        if not 0.0 <= self.pan_frac <= 1.0:
            bad("pan_frac", "[0, 1]")
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            bad("fractions", "a non-empty list of fractions in (0, 1]")
        if not 0 < self.freeze_fraction <= 1:
            bad("freeze_fraction", "(0, 1]")
        if len(self.scale_jitter) != 2 or not 0 < self.scale_jitter[0] <= self.scale_jitter[1]:
            bad("scale_jitter", "[lo, hi] with 0 < lo <= hi")
        if not 0 <= self.translate_jitter < 0.5:
            bad("translate_jitter", "[0, 0.5)")
        if not self.widths or len(self.widths) != len(self.depths) or min(self.widths + self.depths) < 1:
            bad("widths", "a non-empty list of positive ints, as long as depths")
        n_parts = 1 + len(self.widths)
        if not self.freeze_levels or not all(0 <= k <= n_parts for k in self.freeze_levels):
            bad("freeze_levels", f"a non-empty list of ints in [0, {n_parts}] (trunk parts: stem + stages)")
        if not self.methods or any(m not in METHODS for m in self.methods) or "motion" not in self.methods:
            bad("methods", f"a list from {METHODS} containing 'motion'")
        if not self.seeds:
            bad("seeds", "a non-empty list of ints")
        for k in ("pre_lr", "ft_lr"):
            if not getattr(self, k) > 0:
                bad(k, "> 0")
        for k in ("pre_wd", "ft_wd", "min_effect"):
            if getattr(self, k) < 0:
                bad(k, ">= 0")


PROFILES = {
    "ci": dict(n_clips=4, n_frames=8, frame_size=64, num_classes=4, pan_frac=0.5, n_static_train=40,
               n_static_test=40, n_segments=60, vote_iters=10, vote_chunks=2, widths=[16, 32, 32],
               stem_width=8, pre_steps=20, pre_batch=8, ft_steps=20, ft_batch=8, fractions=[0.25, 1.0],
               freeze_levels=[0, 4], freeze_fraction=1.0, seeds=[0], n_examples=2),
    "default": dict(),
    "gpu": dict(n_clips=2000, fractions=[0.01, 0.05, 0.1, 0.25, 1.0], freeze_levels=[0, 2, 3, 4], frame_size=128,
                n_frames=16, n_static_train=10000, n_static_test=2000,
                n_segments=300, widths=[64, 128, 256], depths=[1, 2, 2], stem_width=32, crop_size=96,
                pre_steps=20000, pre_batch=128, ft_steps=3000, ft_batch=64, seeds=[0, 1, 2],
                methods=["motion", "rotation", "random", "true_masks"], threads=0, num_workers=4),
    "paper": dict(dataset="folder", fractions=[0.01, 0.05, 0.1, 0.25, 1.0], freeze_levels=[0, 2, 3, 4], n_segments=400,
                  frame_size=227, widths=[96, 256, 384], depths=[1, 2, 2],
                  stem_width=64, crop_size=160, pre_steps=100000, pre_batch=256, ft_steps=10000, ft_batch=64,
                  seeds=[0, 1, 2], threads=0, num_workers=8),
}

TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}
