"""Label-fraction sampler (spec anchor A7): a stratified, seeded subset of a labelled training set.

The subset depends only on (labels, fraction, seed), never on the method or the training seed, so every
initialisation (motion, rotation, random) and every training seed fine-tunes on the same images.
"""
from __future__ import annotations

import numpy as np

__all__ = ["label_fraction_indices"]


def label_fraction_indices(labels, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of round(fraction * n_c) images per class c (at least 1), drawn with `seed`."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng([int(seed), 7])
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, int(round(fraction * idx.size)))
        out.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(out))
