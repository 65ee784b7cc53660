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
- ``gpu``: more clips, larger frames, 3 seeds, a wider 4-stage trunk with the "imagenet" stem (strides 4..32;
  160-px crops give the mask head a 5 x 5 map, 96-px static images for classification) so that it is also the body of a Faster R-CNN (paperlib.models.detection, "c4" variant) fine-tuned on paperlib's
  embedded scenes at 10 / 100 % of the training images (mAP@0.5); the W5 video-amount sweep (25 / 50 / 100 % of
  the pre-training clips).
- ``paper``: a user's ``data_root`` (frames/, optional masks/ as pseudo labels, static/{train,test}, and
  VOCdevkit/VOC2007 in torchvision's VOCDetection layout for the detection transfer: trainval -> test, mAP@0.5
  by pycocotools -- 101-point COCO interpolation at IoU 0.5, not VOC07's 11-point AP; "difficult" objects are
  ignored regions).
- W6 (every profile): the last ``heldout_clips`` clips are kept out of pre-training; the student's single-frame
  masks and uNLC's masks on them are both scored against the true masks.

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
    stem: str = "simple"               # AnyNet stem: "simple" (s2) | "imagenet" (s4, 4 stages: the detection body)
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
    # W6 student vs teacher: the last `heldout_clips` clips are segmented by uNLC but never pre-trained on
    heldout_clips: int = 12
    student_thresh: float | None = None   # student mask = sigmoid >= this; None: calibrated on the pre-training
    #                                       clips against the pseudo masks (never the true masks)
    # W5 more unlabeled video: motion pre-training on these fractions of the training clips ([] = not run);
    # transfer at min(fractions), all layers fine-tuned
    video_fractions: list[float] = field(default_factory=list)
    # detection transfer (W2/W3 at gpu / paper): "none" | "scenes" (paperlib's embedded scenes) | "voc"
    # (data_root holds torchvision's VOCDetection layout VOCdevkit/VOC2007/...); mAP@0.5 with pycocotools
    det_dataset: str = "none"
    det_fractions: list[float] = field(default_factory=lambda: [0.1, 1.0])   # of the training images
    det_variant: str = "c4"            # build_detector variant ("c4": conv4 features, the last stage as RoI head)
    det_image_size: int = 256          # scenes image side; VOC: min_size of the detector's resize
    det_max_size: int = 512
    det_n_train: int = 2000
    det_n_val: int = 500
    det_max_objects: int = 6
    det_steps: int = 3000
    det_batch: int = 8
    det_lr: float = 0.02
    det_wd: float = 1e-4
    det_voc_train: str = "trainval"
    det_voc_test: str = "test"
    det_min_effect: float = 1.0        # AP50 points
    threads: int = 1                  # torch threads (0 = leave torch's default); 1 is fastest for these small nets
    num_workers: int = 0

    def __post_init__(self):
        def bad(name, valid):
            raise ConfigError(f"{SLUG}: {name}={getattr(self, name)!r} is invalid; valid: {valid}")

        if self.stem not in ("simple", "imagenet"):
            bad("stem", "'simple' or 'imagenet'")
        if self.det_dataset not in ("none", "scenes", "voc"):
            bad("det_dataset", "'none', 'scenes' or 'voc'")
        if self.det_dataset != "none" and (self.stem != "imagenet" or len(self.widths) != 4):
            bad("det_dataset", "'none' unless stem='imagenet' with 4 stages (the detector needs strides 4..32)")
        if self.det_variant not in ("c4", "c5", "fpn"):
            bad("det_variant", "'c4', 'c5' or 'fpn'")
        if not self.det_fractions or not all(0 < f <= 1 for f in self.det_fractions):
            bad("det_fractions", "a non-empty list of fractions in (0, 1]")
        if not all(0 < f <= 1 for f in self.video_fractions):
            bad("video_fractions", "a list of fractions in (0, 1]")
        if self.student_thresh is not None and not 0 < self.student_thresh < 1:
            bad("student_thresh", "None (calibrated) or a number in (0, 1)")
        if self.heldout_clips < 0 or (self.dataset == "synthetic" and self.heldout_clips >= self.n_clips):
            bad("heldout_clips", f"[0, n_clips) = [0, {self.n_clips})")
        if self.dataset not in ("synthetic", "folder"):
            bad("dataset", "'synthetic' or 'folder'")
        if self.pseudo_source not in ("unlc", "masks"):
            bad("pseudo_source", "'unlc' or 'masks'")
        for k, lo in (("n_clips", 1), ("n_frames", 2), ("frame_size", 16), ("n_static_train", 2),
                      ("n_static_test", 1), ("static_size", 16), ("n_segments", 4), ("nn_frames", 1), ("nn_l", 1),
                      ("vote_iters", 1), ("vote_chunks", 1), ("max_gap", 1), ("stem_width", 1), ("crop_size", 16),
                      ("pre_steps", 1), ("pre_batch", 1), ("ft_steps", 1), ("ft_batch", 1), ("threads", 0),
                      ("num_workers", 0), ("n_examples", 1), ("det_image_size", 32), ("det_max_size", 32),
                      ("det_n_train", 1), ("det_n_val", 1), ("det_max_objects", 1), ("det_steps", 1),
                      ("det_batch", 1)):
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
        for k in ("pre_lr", "ft_lr", "det_lr"):
            if not getattr(self, k) > 0:
                bad(k, "> 0")
        for k in ("pre_wd", "ft_wd", "min_effect", "det_wd", "det_min_effect"):
            if getattr(self, k) < 0:
                bad(k, ">= 0")


PROFILES = {
    "ci": dict(n_clips=4, n_frames=8, frame_size=64, num_classes=4, pan_frac=0.5, n_static_train=40,
               n_static_test=40, n_segments=60, vote_iters=10, vote_chunks=2, widths=[16, 32, 32],
               stem_width=8, pre_steps=20, pre_batch=8, ft_steps=20, ft_batch=8, fractions=[0.25, 1.0],
               freeze_levels=[0, 4], freeze_fraction=1.0, seeds=[0], n_examples=2, heldout_clips=1),
    "default": dict(),
    "gpu": dict(n_clips=2000, fractions=[0.01, 0.05, 0.1, 0.25, 1.0], freeze_levels=[0, 2, 3, 4], frame_size=128,
                n_frames=16, n_static_train=10000, n_static_test=2000,
                n_segments=300, stem="imagenet", widths=[64, 128, 256, 512], depths=[1, 2, 2, 1], stem_width=32,
                crop_size=160, static_size=96, pre_steps=20000, pre_batch=128, ft_steps=3000, ft_batch=64, seeds=[0, 1, 2],
                methods=["motion", "rotation", "random", "true_masks"], threads=0, num_workers=4, heldout_clips=100,
                video_fractions=[0.25, 0.5, 1.0], det_dataset="scenes", det_fractions=[0.1, 1.0]),
    "paper": dict(dataset="folder", fractions=[0.01, 0.05, 0.1, 0.25, 1.0], freeze_levels=[0, 2, 3, 4], n_segments=400,
                  frame_size=227, stem="imagenet", widths=[96, 256, 384, 256], depths=[1, 1, 2, 1],
                  stem_width=64, crop_size=160, pre_steps=100000, pre_batch=256, ft_steps=10000, ft_batch=64,
                  seeds=[0, 1, 2], threads=0, num_workers=8, heldout_clips=100, video_fractions=[0.25, 0.5, 1.0],
                  det_dataset="voc", det_fractions=[1.0], det_image_size=600, det_max_size=1000, det_steps=40000,
                  det_batch=8),
}

TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}
