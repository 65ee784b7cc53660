"""Template for a paper's config module (files starting with "_" are not registered).

Copy to paperlib/configs/<name>.py and fill in. Every field has a type annotation (overrides are
type-checked against it) and a default; PROFILES holds only the values that differ per profile.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SLUG = "00_example"
TITLE = "Example paper (Author et al.; VENUE YEAR)"


@dataclass
class Config:
    # data
    dataset: str = "synthetic"          # "synthetic" | "cifar10" | "imagefolder" ...
    image_size: int = 32
    num_classes: int = 10
    n_train: int = 5000
    n_val: int = 1000
    # training
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    max_steps: int | None = None        # ci: a handful of optimizer steps
    seeds: list[int] = field(default_factory=lambda: [0])
    models: list[str] = field(default_factory=lambda: ["resnext_mini_1x32d"])


PROFILES = {
    "ci": dict(n_train=64, n_val=32, image_size=16, epochs=1, max_steps=2),
    "default": dict(epochs=6, seeds=[0, 1]),
    "gpu": dict(dataset="cifar10", epochs=100),
    "paper": dict(dataset="imagenet", image_size=224, epochs=100, batch_size=256),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}
