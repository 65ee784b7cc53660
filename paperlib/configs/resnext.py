"""01 ResNeXt -- Aggregated Residual Transformations for Deep Neural Networks (Xie et al.; CVPR 2017).

Paper notes: docs/papers/01_resnext.md.  Profiles:
- ci:      16-px synthetic ImageFolder (tens of images), 2 SGD steps of mini 1x32d and 8x7d;
           exact complexity / equivalence checks; every table and figure produced.
- default: 16-px synthetic 10-class data (2.5k train / 1k val); mini family {1x32, 2x20, 4x12, 8x7}d,
           2 seeds, 5 epochs, batch 64 (lr 0.05 = 0.1 x 64/128); residual ablation of 1x32d and 8x7d
           (1 seed); CPU throughput.  Sized from measured cost (one training run of 1x32d / 8x7d:
           3000 images x 4 epochs = 30 / 33 CPU-seconds on one thread, i.e. ~400 img/s incl. eval)
           to ~6 minutes on an idle core.  One thread: on a shared 2-core machine two OpenMP threads
           were up to 30x slower on these small convolutions, and idle they gain little.
- gpu:     three arms (``arms``), each a dataset + models + recipe trained in one run, data under
           data_root/<data_subdir>:
           * tiny_imagenet (data_root/tiny-imagenet-200, 64 px, 200 classes): Table 3 proxy, ResNet-50 vs
             ResNeXt-50 {2x40d, 4x24d, 8x14d, 32x4d}, stem kept but maxpool dropped
             ("imagenet_nopool"), pad-crop + flip, 30 epochs, lr steps at 50 % / 75 %, 2 seeds; C1 and
             Fig 5 are judged here on the spec's matched pair ResNet-50 vs ResNeXt-50 32x4d;
           * cifar10 / cifar100 (data_root/cifar-10-batches-py, data_root/cifar-100-python):
             ResNeXt-29 cardinality series {1,2,4}x64d vs a width series 1x{64,100,148}d with params
             matched to 2x64d / 4x64d (Fig 7 / Table 7 / C5), 100 epochs, lr steps at 50 % / 75 %, 2 seeds.
           Top-level fields are the shared recipe (and C6 throughput on CIFAR ResNeXt-29); an arm's keys
           replace them for that arm only.
- paper:   ImageNet-1K from data_root (torchrun): the official recipe (SGD Nesterov 0.1 for the global
           batch 256 = 32 per GPU on 8 GPUs, wd 1e-4 on all parameters, x0.1 at epochs 30/60/90,
           100 epochs; random-resized crop + flip + colour jitter 0.4 + PCA lighting 0.1); Table 3
           50-layer row, ResNet-101 / ResNeXt-101 32x4d (Fig 5's second panel) and the residual ablation.
"""
from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field, fields

from ..config import (ANYNET_STEMS, CLASSIFICATION_DATASETS, COUNT, NONNEG, POSITIVE, SEEDS, STEPS, Range,
                      check_ranges)

SLUG = "01_resnext"
TITLE = "Aggregated Residual Transformations for Deep Neural Networks (Xie et al.; CVPR 2017)"

MINI4 = ["resnext_mini_1x32d", "resnext_mini_2x20d", "resnext_mini_4x12d", "resnext_mini_8x7d"]


@dataclass
class Config:
    # ---- data
    dataset: str = "synthetic"              # synthetic | cifar10 | cifar100 | imagenet | tiny-imagenet
    image_size: int = 16
    num_classes: int = 10
    n_train: int = 2500                     # synthetic only
    n_val: int = 1000                       # synthetic only
    data_seed: int = 0                      # synthetic generator seed (the data, not the run)
    num_workers: int = 0
    # training colour augmentation (0 = off): ColorJitter brightness/contrast/saturation strength and
    # PCA lighting std (paperlib.data.classification.Lighting); the paper's ImageNet recipe: 0.4 / 0.1
    color_jitter: float = 0.0
    lighting: float = 0.0
    # ---- models (registry names).  Table 3 analogue = `models`; C1 / Fig 5 contrast = c1_pair
    models: list[str] = field(default_factory=lambda: list(MINI4))
    c1_pair: list[str] = field(default_factory=lambda: ["resnext_mini_1x32d", "resnext_mini_8x7d"])
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    # C4: the same models trained without shortcuts (ReLU(F(x)), final ReLU kept)
    ablation_models: list[str] = field(default_factory=lambda: ["resnext_mini_1x32d", "resnext_mini_8x7d"])
    ablation_seeds: list[int] = field(default_factory=lambda: [0])
    # C2 (~2x complexity, Table 4): trained only if listed (paper profile)
    c2_models: list[str] = field(default_factory=list)      # [grouped, deeper, wider]
    # C5 (CIFAR, Fig 7): [[cardinality model, params-matched width model], ...]
    c5_pairs: list[list[str]] = field(default_factory=list)
    # Fig 5 panels, one [ResNet-like, ResNeXt] pair each; empty = the single panel of c1_pair
    fig5_pairs: list[list[str]] = field(default_factory=list)
    # ---- recipe (spec: SGD m=0.9, lr 0.1 per 128, cosine, wd 5e-4, pad-crop + flip)
    epochs: int = 5
    # GLOBAL batch per optimizer step, summed over all processes: under torchrun each rank loads
    # batch_size / WORLD_SIZE images (must divide; BN statistics are per rank, e.g. the paper's
    # 256 on 8 GPUs = 32 per GPU).  One process: the loader's batch.
    batch_size: int = 64
    lr: float = 0.05                        # for the global batch_size, used as is (no scaling by world
                                            # size): default 0.1 x 64/128; paper 0.1 for 256
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    wd_on_norm_bias: bool = True            # the paper decays every parameter incl. BN
    schedule: str = "cosine"                # cosine | step
    milestones: list[int] = field(default_factory=list)
    warmup_epochs: float = 0.0
    max_steps: int | None = None            # ci: stop after N optimizer steps
    channels_last: bool = False
    # ---- throughput (C6 / "throughput per configuration")
    throughput_models: list[str] = field(default_factory=lambda: list(MINI4) + ["resnext_mini_32x2d"])
    throughput_batch: int = 64
    throughput_rounds: int = 5
    threads: int = 1                        # torch.set_num_threads on CPU (0 = leave as is)
    # ---- model / data options (None = the model's / dataset's default)
    stem: str | None = None                 # e.g. "imagenet_nopool" (Tiny-ImageNet proxy: no maxpool)
    crop: str | None = None                 # padcrop | rrc | none (None: padcrop for CIFAR/synthetic, else rrc)
    # ---- arms: several datasets in one profile.  Empty = one arm, this config itself (ci / default /
    # paper).  Each arm is a dict of Config keys that replace the top-level ones for that arm, plus
    # "name" (required, unique, [A-Za-z0-9_-]) and optional "data_subdir" (data_root/<data_subdir>).
    # "dataset" is required.  C1 / Fig 5 / C4 / C2 are judged on the first arm that trains c1_pair.
    arms: list[dict] = field(default_factory=list)

    def __post_init__(self):
        check_ranges(self, RANGES)
        for name in ("c5_pairs", "fig5_pairs"):
            bad = [p for p in getattr(self, name) if len(p) != 2]
            if bad:
                raise ValueError(f"field {name}: every entry is a [model, model] pair, got {bad!r}")
        if len(self.c1_pair) != 2:
            raise ValueError(f"field c1_pair = {self.c1_pair!r}: expected two model names [baseline, ResNeXt]")
        if self.c2_models and len(self.c2_models) != 3:
            raise ValueError(f"field c2_models = {self.c2_models!r}: expected [] or three models "
                             "[grouped, deeper, wider] (Table 4)")
        validate_arms(self.arms)


# valid range of every numeric / list / choice field (checked when the Config is built; arms too)
RANGES = {
    "dataset": Range(choices=CLASSIFICATION_DATASETS),
    "image_size": COUNT, "num_classes": Range(lo=2), "n_train": COUNT, "n_val": COUNT,
    "data_seed": NONNEG, "num_workers": NONNEG, "color_jitter": NONNEG, "lighting": NONNEG,
    "models": Range(nonempty=True), "seeds": SEEDS, "ablation_seeds": SEEDS,
    "epochs": COUNT, "batch_size": COUNT, "lr": POSITIVE, "momentum": Range(0, 1, hi_open=True),
    "weight_decay": NONNEG, "schedule": Range(choices=("cosine", "step")), "milestones": NONNEG,
    "warmup_epochs": NONNEG, "max_steps": STEPS,
    "throughput_batch": COUNT, "throughput_rounds": COUNT, "threads": Range(lo=1, zero="leave torch's default"),
    "stem": Range(choices=ANYNET_STEMS, none="the model's default"),
    "crop": Range(choices=("padcrop", "rrc", "none"), none="padcrop for CIFAR / synthetic, else rrc"),
}


ARM_ONLY_KEYS = ("name", "data_subdir")


def validate_arms(arms) -> None:
    """Structural checks of ``Config.arms`` (model names are checked by experiments.resnext.resolve_arms)."""
    if not isinstance(arms, (list, tuple)):
        raise ValueError(f"arms must be a list of dicts, got {type(arms).__name__}")
    from ..config import _type_name, _type_ok

    hints = typing.get_type_hints(Config)
    allowed = {f.name for f in fields(Config)} - {"arms"}
    seen = set()
    for i, arm in enumerate(arms):
        if not isinstance(arm, dict):
            raise ValueError(f"arms[{i}] must be a dict, got {type(arm).__name__}: {arm!r}")
        name = arm.get("name")
        where = f"arms[{i}]" + (f" ({name!r})" if name else "")
        unknown = sorted(set(arm) - allowed - set(ARM_ONLY_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
                             f"{', '.join(ARM_ONLY_KEYS)} and the Config fields {', '.join(sorted(allowed))}")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(f"{where}: 'name' is required and must match [A-Za-z0-9_-]+, got {name!r}")
        if name in seen:
            raise ValueError(f"{where}: duplicate arm name {name!r}")
        seen.add(name)
        if "dataset" not in arm:
            raise ValueError(f"{where}: 'dataset' is required")
        if not isinstance(arm.get("data_subdir", ""), str):
            raise ValueError(f"{where}: 'data_subdir' must be a string, got {arm['data_subdir']!r}")
        for k, v in arm.items():
            if k in allowed and not _type_ok(v, hints[k]):
                raise ValueError(f"{where}[{k!r}] = {v!r} has type {type(v).__name__}, expected {_type_name(hints[k])}")
            problem = RANGES[k].problem(v) if k in RANGES else None
            if problem:
                raise ValueError(f"{where}[{k!r}] = {v!r} {problem}: expected {RANGES[k].describe(v)}")
        if "models" in arm and not arm["models"]:
            raise ValueError(f"{where}: 'models' must not be empty")


CIFAR29 = ["resnext29_1x64d", "resnext29_2x64d", "resnext29_4x64d", "resnext29_1x100d", "resnext29_1x148d"]
TABLE3_50 = ["resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d", "resnext50_32x4d"]

PROFILES = {
    "ci": dict(n_train=64, n_val=32, epochs=1, max_steps=2, batch_size=16, lr=0.0125, seeds=[0],
               models=["resnext_mini_1x32d", "resnext_mini_8x7d"], ablation_models=[],
               throughput_models=["resnext_mini_1x32d", "resnext_mini_8x7d"], throughput_batch=16,
               throughput_rounds=3),
    "default": dict(),
    "gpu": dict(dataset="cifar10", image_size=32, num_workers=8, epochs=100, schedule="step",
                milestones=[50, 75], batch_size=128, lr=0.1, weight_decay=5e-4,
                models=list(TABLE3_50) + list(CIFAR29),      # every model some arm trains
                arms=[dict(name="tiny_imagenet", dataset="tiny-imagenet", data_subdir="tiny-imagenet-200",
                           image_size=64, num_classes=200, models=list(TABLE3_50), stem="imagenet_nopool",
                           crop="padcrop", epochs=30, milestones=[15, 23]),
                      dict(name="cifar10", dataset="cifar10", num_classes=10, models=list(CIFAR29)),
                      dict(name="cifar100", dataset="cifar100", num_classes=100, models=list(CIFAR29))],
                c1_pair=["resnet50", "resnext50_32x4d"],
                c5_pairs=[["resnext29_2x64d", "resnext29_1x100d"], ["resnext29_4x64d", "resnext29_1x148d"]],
                ablation_models=[], throughput_models=["resnext29_1x64d", "resnext29_4x64d", "resnext29_8x64d"],
                throughput_batch=128, throughput_rounds=5, threads=0),
    "paper": dict(dataset="imagenet", image_size=224, num_classes=1000, num_workers=8, epochs=100,
                  batch_size=256, lr=0.1, nesterov=True, weight_decay=1e-4, wd_on_norm_bias=True,
                  schedule="step", milestones=[30, 60, 90], seeds=[0], color_jitter=0.4, lighting=0.1,
                  models=["resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d",
                          "resnext50_32x4d", "resnet101", "resnext101_32x4d"],
                  c1_pair=["resnet50", "resnext50_32x4d"],
                  fig5_pairs=[["resnet50", "resnext50_32x4d"], ["resnet101", "resnext101_32x4d"]],
                  ablation_models=["resnet50", "resnext50_32x4d"], ablation_seeds=[0],
                  c2_models=["resnext101_64x4d", "resnet200", "resnet101_1x100d"],
                  throughput_models=["resnet50", "resnext50_32x4d", "resnet101", "resnext101_32x4d"],
                  throughput_batch=32, throughput_rounds=5, threads=0),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 900, "gpu": 12 * 3600, "paper": None}
