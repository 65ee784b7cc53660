"""09 Early Convolutions Help Transformers See Better (Xiao, Singh, Mintun, Darrell, Dollar, Girshick;
NeurIPS 2021). Paper notes: docs/papers/09_vit_early_convs.md. Profiles:

- ci:      exact complexity (8 ImageNet models, Table 3 stems, tiny pair), stem structure checks, and the
           whole training path at toy size (tiny pair x {AdamW, SGD}, 2 optimizer steps, serial sweep).
- default: the tiny pair (32 px, 10 classes, ~0.55 M params, ~41 M MACs) on the embedded procedural
           4k/1k data: a random (lr, wd) search per model and optimizer (the same samples for both
           models), the best of each re-run with a second seed (Fig 3 contrast), a short-schedule arm of
           the AdamW best (Fig 2 contrast), CPU forward timing of the ImageNet models (Fig 9).
           Cost: 12 search + 4 seed runs of 3 epochs and 4 one-epoch runs on 2k training images (batch 64).
           Measured: one 3-epoch job on 4k images took ~90 s on one core (pilot estimate 27 s was 3x short), so
           the first plan (5 samples per arm on 4k images, 76 model-epochs) needed ~17 min; the default is now
           3 samples per arm on 2k images, ~50 model-epochs of ~15 s with 2 workers; `n_search`, `epochs` and
           `n_train` shrink it further.
- gpu:     CIFAR-100 from data_root, the tiny pair scaled up (192-d, 12 vs 11 blocks), longer schedules.
- paper:   ImageNet-1k from data_root with the paper's recipe (AdamW 1e-3 / wd 0.24 at batch 2048, 5-epoch
           warm-up, cosine to 0.005 x lr, EMA, AutoAugment, mixup 0.8, CutMix 1.0, label smoothing 0.1).
Plain data: no torch import here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SLUG = "09_vit_early_convs"
TITLE = "Early Convolutions Help Transformers See Better (Xiao, Singh, Mintun, Darrell, Dollár, Girshick; NeurIPS 2021)"

IMAGENET_MODELS = ["vit_p_1gf", "vit_c_1gf", "vit_p_4gf", "vit_c_4gf", "vit_p_18gf", "vit_c_18gf",
                   "vit_p_36gf", "vit_c_36gf"]
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class Config:
    # ---- data
    dataset: str = "synthetic"            # synthetic | cifar10 | cifar100 | tiny-imagenet | imagefolder | imagenet
    image_size: int = 32
    num_classes: int = 10
    n_train: int = 4000                   # synthetic only (default: 31 steps of 128 per epoch)
    n_val: int = 1000                     # synthetic only
    data_seed: int = 0
    # ---- the pair that is trained (registry names) and builder overrides (e.g. depth / width for gpu)
    model_p: str = "vit_p_tiny"
    model_c: str = "vit_c_tiny"
    model_kw_p: dict = field(default_factory=dict)
    model_kw_c: dict = field(default_factory=dict)
    # ---- schedule shared by every run (the paper's: warm-up, half cosine to 0.005 x lr, no wd on norms/biases)
    epochs: int = 3
    short_epochs: int = 1                 # Fig 2 analogue: the AdamW best re-trained on this shorter schedule
    warmup_epochs: float = 0.3           # ~10 % of the default run (the paper: 5 of 50-400 epochs)
    min_lr_frac: float = 0.005
    batch_size: int = 128
    max_steps: int | None = None          # ci: stop after N optimizer steps
    clip_grad: float | None = None
    ema_decay: float = 0.0                # > 0: evaluate an EMA of the weights (pycls-style, see docs)
    # ---- recipe extras (paper profile; 0 = off)
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.0
    autoaugment: bool = False
    # ---- random (lr, wd) search per model and optimizer, log-uniform in [1/8, 4] x a good value (spec)
    n_search: int = 5
    adamw_lr: list[float] = field(default_factory=lambda: [1.25e-4, 4e-3])
    adamw_wd: list[float] = field(default_factory=lambda: [6.25e-3, 0.2])
    sgd_lr: list[float] = field(default_factory=lambda: [0.0125, 0.4])
    sgd_wd: list[float] = field(default_factory=lambda: [6.25e-6, 2e-4])
    seeds: list[int] = field(default_factory=lambda: [0, 1])   # the best configs run with every seed
    # ---- verdicts: an effect counts only above max(2 x seed std, this floor) (error, fraction)
    min_effect: float = 0.01
    n_boot: int = 1000
    # ---- sweep execution
    backend: str = "local"                # local | serial | submitit | submitit_local
    workers: int | None = 2
    executor_kwargs: dict = field(default_factory=dict)
    sweep_dir: str | None = None          # None = <data_home>/sweeps/09_vit_early_convs/<profile>
    # ---- Fig 9 analogue: forward timing of the ImageNet models on this machine
    timing_models: list[str] = field(default_factory=lambda: IMAGENET_MODELS[:6])
    timing_batch: int = 1
    timing_reps: int = 3
    timing_threads: int = 1               # 0 = leave torch's default
    throughput_batch: int = 64            # C/P train-step throughput of the trained pair
    throughput_reps: int = 5
    threads: int = 1                      # torch threads of the notebook process (0 = default)

    def __post_init__(self):
        def rng(name, lo_ok=0.0):
            v = getattr(self, name)
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and lo_ok < v[0] <= v[1]):
                raise ValueError(f"{name} = {v!r}: need [lo, hi] with {lo_ok} < lo <= hi")
        for n in ("adamw_lr", "adamw_wd", "sgd_lr", "sgd_wd"):
            rng(n)
        checks = [("epochs", self.epochs >= 1, ">= 1"), ("short_epochs", 1 <= self.short_epochs <= self.epochs,
                                                         f"in [1, epochs={self.epochs}]"),
                  ("warmup_epochs", 0 <= self.warmup_epochs <= self.epochs, f"in [0, epochs={self.epochs}]"),
                  ("min_lr_frac", 0 <= self.min_lr_frac < 1, "in [0, 1)"),
                  ("batch_size", self.batch_size >= 1, ">= 1"), ("n_search", self.n_search >= 1, ">= 1"),
                  ("seeds", len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "distinct, >= 1"),
                  ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
                  ("mixup", self.mixup >= 0, ">= 0"), ("cutmix", self.cutmix >= 0, ">= 0"),
                  ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
                  ("min_effect", self.min_effect >= 0, ">= 0"), ("n_boot", self.n_boot >= 100, ">= 100"),
                  ("max_steps", self.max_steps is None or self.max_steps >= 1, "None or >= 1"),
                  ("backend", self.backend in ("local", "serial", "submitit", "submitit_local", "submitit_debug"),
                   "local | serial | submitit | submitit_local | submitit_debug"),
                  ("timing_batch", self.timing_batch >= 1, ">= 1"), ("timing_reps", self.timing_reps >= 1, ">= 1"),
                  ("throughput_batch", self.throughput_batch >= 1, ">= 1"),
                  ("throughput_reps", self.throughput_reps >= 2, ">= 2"),
                  ("timing_models", all(m in IMAGENET_MODELS for m in self.timing_models),
                   f"names from {IMAGENET_MODELS}")]
        for name, ok, valid in checks:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)!r}: valid range {valid}")


_GPU_PAIR = dict(model_kw_p={"hidden": 192, "heads": 3, "mlp": 576, "depth": 12, "patch": 4},
                 model_kw_c={"hidden": 192, "heads": 3, "mlp": 576, "depth": 11,
                             "c_stem": [[3, 3, 3, 3, 1], [2, 1, 2, 1, 1], [48, 48, 96, 96, 192]]})

PROFILES = {
    "ci": dict(n_train=256, n_val=64, epochs=1, short_epochs=1, warmup_epochs=0.5, max_steps=2, batch_size=32,
               n_search=1, seeds=[0, 1], backend="serial", workers=1, n_boot=200,
               timing_models=["vit_p_1gf", "vit_c_1gf"], timing_reps=1, throughput_batch=8, throughput_reps=2),
    "default": dict(n_train=2000, batch_size=64, n_search=3),
    "gpu": dict(dataset="cifar100", num_classes=100, n_train=50000, n_val=10000, epochs=100, short_epochs=25,
                warmup_epochs=5, n_search=16, seeds=[0, 1, 2], workers=1, ema_decay=0.9999, **_GPU_PAIR,
                adamw_lr=[2.5e-4, 8e-3], adamw_wd=[0.02, 0.8], sgd_lr=[0.01, 0.32], sgd_wd=[4e-6, 1.2e-4],
                timing_models=list(IMAGENET_MODELS), timing_batch=64, timing_reps=10, timing_threads=0,
                throughput_batch=256, threads=0),
    "paper": dict(dataset="imagenet", image_size=224, num_classes=1000, model_p="vit_p_4gf", model_c="vit_c_4gf",
                  epochs=400, short_epochs=50, warmup_epochs=5, batch_size=2048, ema_decay=0.99995,
                  mixup=0.8, cutmix=1.0, label_smoothing=0.1, autoaugment=True, n_search=64, seeds=[0, 1],
                  adamw_lr=[2.5e-4, 8e-3], adamw_wd=[0.02, 0.8], sgd_lr=[0.1, 3.2], sgd_wd=[4e-6, 1.2e-4],
                  backend="submitit", workers=None, executor_kwargs={"gpus_per_node": 8, "tasks_per_node": 8, "timeout_min": 4320},
                  timing_models=list(IMAGENET_MODELS), timing_batch=64, timing_reps=10, timing_threads=0,
                  throughput_batch=256, threads=0),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 1800, "gpu": 12 * 3600, "paper": None}
