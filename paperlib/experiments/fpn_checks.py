"""02 FPN's exact checks (no training): Eq. 1 boundaries against torchvision's level mapper, the anchor
counts of the worked 800x1088 example, R-50 parameter anchors of the FPN neck, RPN head and box head, the
P_k shapes and anchors of this run's backbone, the Eq. 1 level histogram of the ground truth, and claim A1.

Split out of :mod:`paperlib.experiments.fpn` (same paper) to keep each module small; it uses that module's
Eq. 1 scaling (``canonical_scale``). Paper notes:
``docs/papers/02_fpn.md``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List

import numpy as np
import torch

from ..metrics import stats
from .fpn import canonical_scale

# spec "Verification anchors"
EQ1_CASES = {224.0: 4, 223.9: 3, 112.0: 3, 111.9: 2, 448.0: 5, 32.0: 2, 2000.0: 5}
ANCHOR_EXAMPLE = {"size": (800, 1088), "P2": 54400 // 1, "fpn_total": 217413, "c4": 51000, "c5": 12750,
                  "finest": 816000}
R50_PARAM_ANCHORS = {"fpn_neck": 3344384, "rpn_head": 593935, "box_head_fcs": 13895680}


def level_histogram(coco_gt, cfg) -> List[Dict]:
    """GT boxes (non-crowd) per pyramid level by Eq. 1 (canonical scale scaled with the anchors)."""
    from ..models.detection import fpn_level

    b = np.array([a["bbox"] for a in coco_gt.dataset["annotations"] if not a.get("iscrowd", 0)], float)
    if b.size == 0:
        return [{"level": f"P{k}", "gt_boxes": 0} for k in (2, 3, 4, 5)]
    xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], 1)
    lv = fpn_level(torch.from_numpy(xyxy), canonical_scale=canonical_scale(cfg)).numpy()
    return [{"level": f"P{k}", "sqrt(wh) range": _level_range(k, canonical_scale(cfg)),
             "gt_boxes": int((lv == k).sum())} for k in (2, 3, 4, 5)]



def _level_range(k: int, s0: float) -> str:
    lo = 0 if k == 2 else s0 * 2 ** (k - 4)
    hi = math.inf if k == 5 else s0 * 2 ** (k - 3)
    return f"[{lo:g}, {hi:g})"



def exact_checks() -> Dict[str, Any]:
    """Spec verification anchors, measured: Eq. 1 boundaries, anchor counts, R50 FPN params."""
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.models.detection.rpn import RPNHead
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    from ..models.detection import anchor_counts, fpn_level

    # Eq. 1: our implementation and torchvision's LevelMapper on square boxes of side s
    sides = list(EQ1_CASES)
    boxes = torch.tensor([[0.0, 0.0, s, s] for s in sides], dtype=torch.float64)
    ours = fpn_level(boxes).tolist()
    from torchvision.ops.poolers import _setup_scales   # what MultiScaleRoIAlign runs on first call

    feats = [torch.zeros(1, 1, 1024 // 2 ** k, 1024 // 2 ** k) for k in (2, 3, 4, 5)]
    _, mapper = _setup_scales(feats, [(1024, 1024)], 224, 4)
    tv = (mapper([boxes.float()]) + 2).tolist()
    H, W = ANCHOR_EXAMPLE["size"]
    counts = {v: anchor_counts(H, W, v)["total"] for v in ("fpn", "c4", "c5", "finest")}
    fpn_neck = FeaturePyramidNetwork([256, 512, 1024, 2048], 256, extra_blocks=LastLevelMaxPool())
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    params = {"fpn_neck": n(fpn_neck), "rpn_head": n(RPNHead(256, 3)),
              "box_head_fcs": n(TwoMLPHead(256 * 7 * 7, 1024))}
    return {"eq1_ours": dict(zip(sides, ours)), "eq1_torchvision": dict(zip(sides, tv)),
            "eq1_expected": dict(EQ1_CASES), "anchor_counts_800x1088": counts,
            "anchor_counts_expected": {"fpn": ANCHOR_EXAMPLE["fpn_total"], "c4": ANCHOR_EXAMPLE["c4"],
                                       "c5": ANCHOR_EXAMPLE["c5"], "finest": ANCHOR_EXAMPLE["finest"]},
            "r50_params": params, "r50_params_expected": dict(R50_PARAM_ANCHORS)}



def exact_rows(chk: Dict[str, Any]) -> List[Dict]:
    """The exact-checks table: Eq. 1 levels (ours and torchvision's), anchor counts, R50 parameter anchors."""
    rows = [{"check": f"Eq.1 level of sqrt(wh)={s:g}", "ours": chk["eq1_ours"][s], "torchvision": chk["eq1_torchvision"][s],
             "expected": chk["eq1_expected"][s]} for s in chk["eq1_expected"]]
    rows += [{"check": f"anchors 800x1088, {v}", "ours": n, "torchvision": "", "expected": chk["anchor_counts_expected"][v]}
             for v, n in chk["anchor_counts_800x1088"].items()]
    rows += [{"check": f"R50 params, {k}", "ours": n, "torchvision": "", "expected": chk["r50_params_expected"][k]}
             for k, n in chk["r50_params"].items()]
    return rows



def exact_verdict(chk: Dict[str, Any]) -> stats.Verdict:
    return stats.decide_all({
        "Eq.1 (ours) boundaries": chk["eq1_ours"] == chk["eq1_expected"],
        "Eq.1 (torchvision LevelMapper) boundaries": chk["eq1_torchvision"] == chk["eq1_expected"],
        "anchor counts 800x1088": chk["anchor_counts_800x1088"] == chk["anchor_counts_expected"],
        "R50 FPN / RPN / box-head params": chk["r50_params"] == chk["r50_params_expected"],
    })



def anchor_rows(cfg) -> List[Dict]:
    """Anchors per level for every variant at this run's (square) input size."""
    from ..models.detection import VARIANTS, VARIANT_INFO, anchor_counts

    S = cfg.min_size or cfg.image_size
    rows = []
    for v in VARIANTS:
        c = anchor_counts(S, S, v)
        rows.append({"row": VARIANT_INFO[v]["row"], **{k: c.get(k, "") for k in
                     ("C4", "C5", "P2", "P3", "P4", "P5", "P6", "total")}})
    return rows



def pyramid_shapes(cfg, size: int = 64) -> List[Dict]:
    """P_k shapes of the configured backbone's FPN on a random input (every P_k: d channels,
    spatial size of C_k)."""
    from ..models.detection import AnyNetBody, build_backbone
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    # shapes do not depend on the weights: a frozen-BN backbone is built with BN here (no weights read)
    net = build_backbone(cfg.backbone, "bn" if cfg.norm == "frozen_bn" else cfg.norm).eval()
    body = AnyNetBody(net)
    neck = FeaturePyramidNetwork(list(net.cfg.widths), cfg.fpn_channels, extra_blocks=LastLevelMaxPool())
    with torch.no_grad():
        c = body(torch.randn(1, 3, size, size))
        p = neck(c)
    rows = []
    for (ck, cv), (pk, pv) in zip(list(c.items()) + [(None, None)], p.items()):
        rows.append({"C": ck or "-", "C shape": tuple(cv.shape[1:]) if cv is not None else "-",
                     "P": f"P{int(ck[1]) if ck else 6}", "P shape": tuple(pv.shape[1:])})
    return rows



def exact_claim(chk: Dict[str, Any]) -> Dict[str, Any]:
    """A1 (the spec's implementation anchors, no training) as keyword arguments of ``run.claim``."""
    return dict(claim_id="A1", statement="Implementation anchors: Eq. 1 boundaries, anchor counts per level, R50 "
                "FPN/RPN/box-head parameter counts", verdict=exact_verdict(chk), trained=False,
                paper={**{k: R50_PARAM_ANCHORS[k] for k in ("fpn_neck", "rpn_head", "box_head_fcs")},
                       "anchors_800x1088": ANCHOR_EXAMPLE["fpn_total"]})



def level_figure(rows: List[Dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([r["level"] for r in rows], [r["gt_boxes"] for r in rows], color="tab:blue")
    ax.set_ylabel("GT boxes (val)")
    ax.set_title("Pyramid level by Eq. 1", fontsize=9)
    fig.tight_layout()
    return fig
