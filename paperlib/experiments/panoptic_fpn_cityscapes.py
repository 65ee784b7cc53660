"""06 Panoptic FPN on Cityscapes: the paper reports the median of 5 runs there (its section 4; mIoU varies by
up to 0.4 between runs). :func:`median_rows` summarises the per-seed rows of the one-vs-two-networks study
(:func:`paperlib.experiments.panoptic_fpn.joint_vs_separate`) as median, min and max over the seeds beside the
paper's Cityscapes numbers (Table 3a, R50-FPN). Notes: docs/papers/06_panoptic_fpn.md.

    t3 = X.joint_vs_separate(cfg, data, sem, joint)
    rows = median_rows(t3["rows"])            # one row per model and metric
    run.metric("joint_median", median_metrics(rows))
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

__all__ = ["PAPER_CITYSCAPES", "METRICS", "median_rows", "median_metrics"]

#: paper Table 3a, Cityscapes val, R50-FPN: AP / PQ^Th / mIoU (19 classes) / PQ^St / PQ
PAPER_CITYSCAPES = {
    "joint": {"AP": 32.0, "PQ_Th": 51.6, "mIoU": 75.0, "PQ_St": 62.2, "PQ": 57.7},
    "separate": {"AP": 32.2, "PQ_Th": 51.3, "mIoU": 74.5, "PQ_St": 62.4, "PQ": 57.7},
}
METRICS = ("PQ", "PQ_Th", "PQ_St", "mIoU", "AP")


def median_rows(per_seed: List[dict]) -> List[dict]:
    """Per model ("joint", "separate") and metric: the median over seeds, the spread (min, max, max - min),
    the number of seeds and the paper's value. ``per_seed``: rows {model, seed, AP, PQ, PQ_Th, PQ_St, mIoU}."""
    rows = []
    for model in ("joint", "separate"):
        rs = [r for r in per_seed if r["model"] == model]
        if not rs:
            continue
        for key in METRICS:
            v = np.array([float(r[key]) for r in rs])
            rows.append({"model": model, "metric": key, "median": float(np.median(v)), "min": float(v.min()),
                         "max": float(v.max()), "spread": float(v.max() - v.min()), "seeds": len(v),
                         "paper": PAPER_CITYSCAPES[model][key]})
    return rows


def median_metrics(rows: List[dict]) -> Dict[str, float]:
    """The joint model's medians {metric: median} (what the paper reports), for ``run.metric``."""
    return {r["metric"]: r["median"] for r in rows if r["model"] == "joint"}
