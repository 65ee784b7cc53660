"""08 RegNet -- Designing Network Design Spaces (Radosavovic, Kosaraju, Girshick, He, Dollar; CVPR 2020).

Paper notes: docs/papers/08_regnet.md.  Profiles:
- ci:      exact checks (24 RegNetX/Y configs, tiny 32-px variant, Table 1 sizes); 3 models each of
           AnyNetX_A / AnyNetX_E / RegNet in the 32-px 3-5 M MACs band trained for a few optimizer steps
           through the sweep machinery (serial); every figure and table drawn; CPU timing of 2 models.
- default: 32-px synthetic 10-class data (3k train / 1k val); CIFAR-style nets (3x3 stride-1 16-ch
           stem, 3 stages of stride 2) in a 3-5 M MACs band; AnyNetX_A, AnyNetX_E, RegNet with 16
           models each and the intermediate refinements AnyNetX_B, _C, _D with 8 each (72 jobs), every
           model trained identically with the spec's short schedule (2 epochs, SGD Nesterov, lr 0.05
           at batch 128 scaled to 0.0125 at batch 32, cosine, wd 5e-5 incl. BN, Precise-BN before
           eval) in a 2-process pool; CPU forward timing of RegNetX/Y 200MF-1.6GF. Sized from measured
           cost: ~6 min on 2 idle cores (about twice that when the cores are shared).
- gpu:     CIFAR-10 from data_root; AnyNetX_A, _C, _E and RegNet, 48 models each at 30-120 M MACs
           (32 px), 10 epochs, batch 128, lr 0.1; GPU inference timing of the 24 ImageNet RegNets.
- paper:   ImageNet from data_root: the paper's design-space recipe (n = 500 per space at
           360-400 MF, 224 px, 4 stages, 10 epochs, batch 128, lr 0.05, wd 5e-5, cosine) -- submitted
           through submitit (SLURM). About 3.35 V100-hours per model, ~1,680 per space.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import (ANYNET_STEMS, CLASSIFICATION_DATASETS, COUNT, NONNEG, POSITIVE, PROB, STEPS, Range,
                      check_ranges)

SLUG = "08_regnet"
TITLE = "Designing Network Design Spaces (Radosavovic, Kosaraju, Girshick, He, Dollár; CVPR 2020)"

TIMING_MODELS = ["regnetx_200mf", "regnetx_400mf", "regnetx_600mf", "regnetx_800mf", "regnetx_1_6gf",
                 "regnety_200mf", "regnety_400mf", "regnety_600mf", "regnety_800mf", "regnety_1_6gf"]


# ---- Table 4 timing analogue (plain data, read by experiments.regnet)
#: Table 4 (spec): EfficientNet-Bk with its input resolution, the RegNetY at similar flops it is set
#: against, and the paper's numbers (GF, params M and acts M where the spec gives them; V100 inference
#: ms per 64 images and training hours per 100 epochs on 8 GPUs, EfficientNet and RegNetY; top-1 error
#: under the paper's training). The resolutions are EfficientNet's own (Tan & Le; pycls's EN-Bk configs
#: train and test at them): the spec does not list them, but its GF / acts for B0, B3, B4, B5 are only
#: reproduced at these sizes (timm ``efficientnet_bk`` at them: 0.386 / 1.83 / 4.39 / 10.27 GF,
#: 6.75 / 23.8 / 49.5 / 98.9 M acts). B1 and B2 have no timing in the spec (None).
EFFNET_TABLE4: dict[str, dict] = {
    "efficientnet_b0": dict(res=224, regnety="regnety_400mf", GF=0.4, acts_M=6.7, infer_ms=34, train_h=11.7,
                            regnety_infer_ms=19, regnety_train_h=5.1, err=24.9, regnety_err=25.9),
    "efficientnet_b1": dict(res=240, regnety="regnety_600mf", err=24.1, regnety_err=24.5,
                            regnety_infer_ms=19, regnety_train_h=5.2),
    "efficientnet_b2": dict(res=260, regnety="regnety_800mf", err=23.4, regnety_err=23.7,
                            regnety_infer_ms=22, regnety_train_h=6.0),
    "efficientnet_b3": dict(res=300, regnety="regnety_1_6gf", GF=1.8, acts_M=23.8, infer_ms=114, train_h=32.1,
                            regnety_infer_ms=39, regnety_train_h=10.1, err=22.5, regnety_err=22.0),
    "efficientnet_b4": dict(res=380, regnety="regnety_4_0gf", GF=4.2, acts_M=48.5, infer_ms=240, train_h=65.1,
                            regnety_infer_ms=68, regnety_train_h=16.8, err=21.2, regnety_err=20.6),
    "efficientnet_b5": dict(res=456, regnety="regnety_8_0gf", GF=9.9, params_M=30.0, acts_M=98.9, infer_ms=504,
                            train_h=135.1, regnety_infer_ms=113, regnety_train_h=28.1, err=21.5, regnety_err=20.1),
}
#: the spec's pairs, in the form of a config's ``effnet_pairs``
EFFNET_PAIRS = [[k, v["regnety"]] for k, v in EFFNET_TABLE4.items()]


def effnet_key(name: str) -> str:
    """Table 4 key of a timm EfficientNet name (``tf_efficientnet_b3`` -> ``efficientnet_b3``)."""
    return name[3:] if name.startswith("tf_") else name


def parse_effnet_pairs(pairs, is_effnet=None, regnet_names=None) -> list[dict]:
    """Check the form of ``effnet_pairs`` and return ``[{"effnet", "regnety", "res"}]``.

    Each entry is an EfficientNet name (its Table 4 RegNetY and resolution are used), or ``[effnet, regnet]``,
    or ``[effnet, regnet, resolution]``; the resolution is required outside Table 4. Plain: without
    ``is_effnet`` (a name check, e.g. ``timm.is_model``) and ``regnet_names`` (the registry's RegNets) it
    checks names by their form only, so that building a Config imports neither timm nor torch;
    ``experiments.regnet.resolve_effnet_pairs`` passes both. Raises a ValueError naming the entry."""
    if pairs is None:
        return []
    if not isinstance(pairs, (list, tuple)):
        raise ValueError(f"effnet_pairs must be a list, got {type(pairs).__name__}")
    out = []
    for i, e in enumerate(pairs):
        where = f"effnet_pairs[{i}] = {e!r}"
        if isinstance(e, str):
            e = [e]
        if not isinstance(e, (list, tuple)) or not 1 <= len(e) <= 3 or not all(isinstance(v, str) for v in e[:2]):
            raise ValueError(f"{where}: expected an EfficientNet name, [effnet, regnet] or [effnet, regnet, resolution]")
        eff = e[0]
        key = effnet_key(eff)
        if "efficientnet" not in eff or (is_effnet is not None and not is_effnet(eff)):
            raise ValueError(f"{where}: unknown EfficientNet {eff!r}; use a timm EfficientNet, e.g. "
                             f"{sorted(EFFNET_TABLE4)} (the tf_ variants too; timm.list_models('*efficientnet*'))")
        if len(e) >= 2:
            reg = e[1]
        elif key in EFFNET_TABLE4:
            reg = EFFNET_TABLE4[key]["regnety"]
        else:
            raise ValueError(f"{where}: {eff!r} has no Table 4 partner; give [effnet, regnet, resolution]")
        known = reg in regnet_names if regnet_names is not None else re.fullmatch(r"regnet[xy]_\w+", reg)
        if not known:
            choices = regnet_names if regnet_names is not None else "a registry RegNetX / RegNetY, e.g. regnety_400mf"
            raise ValueError(f"{where}: unknown RegNet {reg!r}; choose from {choices}")
        if len(e) == 3:
            res = e[2]
            if not isinstance(res, int) or isinstance(res, bool) or res < 8:
                raise ValueError(f"{where}: resolution must be an integer >= 8")
        elif key in EFFNET_TABLE4:
            res = EFFNET_TABLE4[key]["res"]
        else:
            raise ValueError(f"{where}: {eff!r} is not in Table 4; give its resolution: [effnet, regnet, resolution]")
        out.append({"effnet": eff, "regnety": reg, "res": int(res)})
    return out


@dataclass
class Config:
    # ---- data
    dataset: str = "synthetic"              # synthetic | cifar10 | cifar100 | tiny-imagenet | imagenet
    image_size: int = 32
    num_classes: int = 10
    n_train: int = 3000                     # synthetic only
    n_val: int = 1000                       # synthetic only
    data_seed: int = 0
    # ---- design-space populations (spec: AnyNet skeleton; small profiles = CIFAR stem, 3 stages)
    spaces: list[str] = field(default_factory=lambda: ["AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D",
                                                       "AnyNetX_E", "RegNet"])
    n_per_space: int = 16
    n_by_space: dict = field(default_factory=lambda: {"AnyNetX_B": 8, "AnyNetX_C": 8, "AnyNetX_D": 8})
                                            # per-space n overriding n_per_space (spaces absent: n_per_space)
    flop_window: list[float] = field(default_factory=lambda: [3e6, 5e6])   # MACs, inclusive
    num_stages: int = 3
    stem: str = "cifar"                     # cifar (3x3 s1) | simple (3x3 s2, RegNet ImageNet stem)
    stem_width: int = 16
    # ---- per-model training (identical for every model)
    epochs: int = 2                         # spec default: "~1-2 epochs"
    batch_size: int = 32
    lr: float = 0.0125                      # pycls DDS lr 0.05 at batch 128, scaled to batch 32 (spec)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    wd_on_norm_bias: bool = True            # pycls DDS: weight decay on BN too
    warmup_epochs: float = 0.3
    max_steps: int | None = None            # ci: stop after N optimizer steps
    precise_bn_images: int = 8192           # pycls Precise-BN before every evaluation (0 = off)
    # ---- sweep execution
    backend: str = "local"                  # local | serial | submitit | submitit_local
    workers: int | None = None              # None = every core
    executor_kwargs: dict = field(default_factory=dict)     # submitit update_parameters(...)
    sweep_dir: str | None = None            # None = <data_home>/sweeps/08_regnet/<profile>
    # ---- analysis
    n_boot: int = 1000                      # bootstrap resamples for space comparisons
    boot_reps: int = 10000                  # empirical bootstrap of best x (footnote 4)
    eps: float = 0.02                       # "within eps of the best model" (error, fraction)
    fit_top: int = 4                        # e_fit of the best / worst models (Fig 8)
    # ---- Fig 12 analogue: forward timing
    timing_models: list[str] = field(default_factory=lambda: list(TIMING_MODELS))
    timing_batch: int = 8
    timing_image_size: int = 224
    timing_threads: int = 1
    timing_reps: int = 2
    # ---- Fig 11 trends: dedicated RegNet populations per flop regime ([] = reuse the EDF population)
    trend_regimes: list = field(default_factory=list)   # [[lo, hi], ...] MACs
    trend_n: int = 100                      # models per regime (spec: 100)
    trend_epochs: int = 25                  # spec: 25 epochs per model
    trend_lr: float = 0.1                   # spec: lr 0.1
    # ---- Table 4 timing analogue: EfficientNet (timm) vs RegNetY at similar flops (gpu / paper)
    effnet_pairs: list = field(default_factory=list)   # [[effnet, regnet(, px)], ...]; [] = not run
    effnet_train_batch: int = 0             # > 0: also time the training step (pycls's 1.66x is train time)

    def __post_init__(self):
        check_ranges(self, RANGES)
        lo, hi = (list(self.flop_window) + [None, None])[:2]
        if len(self.flop_window) != 2 or not lo < hi:
            raise ValueError(f"field flop_window = {self.flop_window!r}: expected [lo, hi] MACs with 0 < lo < hi")
        from ..design_spaces import SPACES
        parse_effnet_pairs(self.effnet_pairs)      # form only (no timm); names: experiments.regnet
        for r in self.trend_regimes:
            if not (isinstance(r, (list, tuple)) and len(r) == 2 and 0 < r[0] < r[1]):
                raise ValueError(f"trend_regimes: each regime is [lo, hi] MACs with 0 < lo < hi, got {r!r}")
        if self.trend_n < 2 or self.trend_epochs < 1 or not self.trend_lr > 0:
            raise ValueError("trend_n >= 2, trend_epochs >= 1 and trend_lr > 0 are required")
        if self.effnet_train_batch < 0 or self.effnet_train_batch == 1:
            raise ValueError(f"effnet_train_batch = {self.effnet_train_batch}: 0 (off) or >= 2 images")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad or not self.spaces:
            raise ValueError(f"spaces: unknown {bad or 'empty list'}; choose from {sorted(SPACES)}")
        for sp, n in self.n_by_space.items():
            if sp not in SPACES:
                raise ValueError(f"n_by_space: unknown space {sp!r}; choose from {sorted(SPACES)}")
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"n_by_space[{sp!r}] = {n!r}: need an integer >= 1")
        if self.n_per_space < 1:
            raise ValueError(f"n_per_space = {self.n_per_space}: need an integer >= 1")

    def n_models(self, space: str) -> int:
        """Population size of ``space``: n_by_space[space] if given, else n_per_space."""
        return int(self.n_by_space.get(space, self.n_per_space))


_BOOT = Range(lo=1, why="bootstrap resamples")
# valid range of every numeric / list / choice field (checked when the Config is built; spaces, n_by_space,
# trend_* and effnet_* are checked in __post_init__)
RANGES = {
    "dataset": Range(choices=CLASSIFICATION_DATASETS), "image_size": COUNT, "num_classes": Range(lo=2),
    "n_train": COUNT, "n_val": COUNT, "data_seed": NONNEG,
    "flop_window": Range(lo=0, lo_open=True), "num_stages": COUNT, "stem": Range(choices=ANYNET_STEMS),
    "stem_width": COUNT, "epochs": COUNT, "batch_size": COUNT, "lr": POSITIVE, "momentum": Range(0, 1, hi_open=True),
    "weight_decay": NONNEG, "warmup_epochs": NONNEG, "max_steps": STEPS, "precise_bn_images": NONNEG,
    "backend": Range(choices=("local", "serial", "submitit", "submitit_local", "submitit_debug")),
    "workers": Range(lo=1, none="every core"), "n_boot": _BOOT, "boot_reps": _BOOT, "eps": PROB, "fit_top": COUNT,
    "timing_models": Range(nonempty=True), "timing_batch": COUNT, "timing_image_size": COUNT,
    "timing_threads": Range(lo=1, zero="torch's default"), "timing_reps": COUNT,
}


PROFILES = {
    "ci": dict(n_train=256, n_val=64, spaces=["AnyNetX_A", "AnyNetX_E", "RegNet"], n_per_space=3, epochs=1, max_steps=2, batch_size=16,
               backend="serial", n_boot=200, boot_reps=1000, fit_top=1,
               timing_models=["regnetx_200mf", "regnety_200mf"], timing_batch=2, timing_image_size=64,
               timing_reps=1),
    "default": dict(),
    "gpu": dict(dataset="cifar10", n_per_space=48, n_by_space={}, spaces=["AnyNetX_A", "AnyNetX_C", "AnyNetX_E", "RegNet"],
                flop_window=[30e6, 120e6], epochs=10, batch_size=128, lr=0.1, warmup_epochs=0.0,
                workers=1, timing_models=[f"regnet{f}_{t}" for f in "xy" for t in
                                          ("200mf", "400mf", "600mf", "800mf", "1_6gf", "3_2gf", "4_0gf",
                                           "6_4gf", "8_0gf", "12gf", "16gf", "32gf")],
                timing_batch=64, timing_reps=10, timing_threads=0,
                effnet_pairs=[["efficientnet_b0", "regnety_400mf"], ["efficientnet_b1", "regnety_600mf"],
                              ["efficientnet_b2", "regnety_800mf"], ["efficientnet_b3", "regnety_1_6gf"],
                              ["efficientnet_b4", "regnety_4_0gf"], ["efficientnet_b5", "regnety_8_0gf"]],
                effnet_train_batch=32,
                # Fig 11: two regimes x 32 models (the spec's 100 per regime = ~7,500 model-epochs here,
                # beyond the gpu budget; raise trend_n with an override on a larger machine)
                trend_regimes=[[30e6, 60e6], [60e6, 120e6]], trend_n=32),
    "paper": dict(dataset="imagenet", image_size=224, num_classes=1000, n_per_space=500, n_by_space={},
                  spaces=["AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet"],
                  flop_window=[360e6, 400e6], num_stages=4, stem="simple", stem_width=32,
                  epochs=10, batch_size=128, lr=0.05, nesterov=True, warmup_epochs=0.0,
                  backend="submitit", executor_kwargs={"gpus_per_node": 1, "timeout_min": 600},
                  timing_batch=64, timing_reps=10, timing_threads=0,
                  effnet_pairs=[["efficientnet_b0", "regnety_400mf"], ["efficientnet_b1", "regnety_600mf"],
                                ["efficientnet_b2", "regnety_800mf"], ["efficientnet_b3", "regnety_1_6gf"],
                                ["efficientnet_b4", "regnety_4_0gf"], ["efficientnet_b5", "regnety_8_0gf"]],
                  effnet_train_batch=32,
                  trend_regimes=[[180e6, 200e6], [360e6, 400e6], [720e6, 800e6], [1.44e9, 1.6e9],
                                 [2.88e9, 3.2e9], [5.76e9, 6.4e9]]),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 2400, "gpu": 12 * 3600, "paper": None}
