"""06 Panoptic FPN: studies (notes: docs/papers/06_panoptic_fpn.md). Claims and tables: panoptic_fpn_report.

    from paperlib.experiments import panoptic_fpn as X
    data = X.prepare(cfg, data_root)                     # train / val PanopticFPNDataset (+ categories)
    sem, joint = X.run_studies(cfg, data, device)        # steps 1 (widths, sum vs concat) and 2 (lambda_s)
    merge = X.merge_study(cfg, data, joint[(0.5, 0)])    # step 3: merge parameters on one joint network
    t3 = X.joint_vs_separate(cfg, data, sem, joint)      # step 4: PQ and MACs

Every network is :func:`paperlib.models.panoptic_fpn.build_panoptic_fpn` trained with the shared
detection recipe (:func:`paperlib.engine.panoptic.panoptic_train_config`: SGD, warm-up, x0.1 at 75 % or at
``cfg.lr_steps``)
for ``cfg.iters`` iterations; steps 1 and 2 use the same count, so step 4 reuses their networks.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..data.panoptic import combine_semantic_instances
from ..data.panoptic_dataset import PanopticFPNDataset, panoptic_fpn_dataset
from ..metrics.pq import pq_compute_arrays
from ..metrics.pq_counts import miou_from_confusion, per_image_counts, semantic_confusion

__all__ = ["Data", "prepare", "build", "train_net", "predict", "evaluate", "merge_all", "run_jobs", "study_jobs",
           "run_studies", "merge_study", "joint_vs_separate", "Net", "VARIANTS", "width_of", "pq_of", "ap_of",
           "sem_confusions", "mac_parts", "macs", "deeper_recipe", "deeper_weights", "untrained"]


@dataclass
class Data:
    root: Any
    train: PanopticFPNDataset
    val: PanopticFPNDataset
    categories: List[dict]
    thing_ids: List[int]
    stuff_ids: List[int]
    backbone_weights: Optional[str] = None
    deeper_backbone_weights: Optional[str] = None     # of cfg.deeper_backbone (variant "deeper", T3b)


def prepare(cfg, data_root=None) -> Data:
    """Synthetic panoptic scenes (cached), the user's COCO panoptic 2017 or the user's Cityscapes
    (:mod:`paperlib.data.cityscapes`) under ``data_root``; the training split gets the flip and, when
    configured, the random rescale + crop (``cfg.scale_range`` / ``cfg.crop_size``)."""
    from ..engine.detection import resolve_backbone_weights

    weights = resolve_backbone_weights(cfg, data_root)
    if cfg.dataset == "coco" and data_root is None:
        raise ValueError("dataset='coco' needs data_root: train2017/, val2017/, annotations/instances_*2017.json, "
                         "annotations/panoptic_*2017.json and their PNG folders")
    if cfg.dataset == "cityscapes" and data_root is None:
        from ..data.cityscapes import CITYSCAPES_LAYOUT

        raise ValueError(f"dataset='cityscapes' needs data_root with the layout:\n{CITYSCAPES_LAYOUT}")
    kind, tr, va = {"scenes": ("scenes", "train", "val"), "coco": ("coco", "train2017", "val2017"),
                    "cityscapes": ("cityscapes", "train", "val")}[cfg.dataset]
    root = data_root
    if kind == "scenes":
        from ..data.scenes import synthetic_scenes

        root = synthetic_scenes(n_train=cfg.n_train, n_val=cfg.n_val, image_size=cfg.image_size,
                                max_objects=cfg.max_objects, num_things=cfg.num_things, num_stuff=cfg.num_stuff,
                                bucket_probs=tuple(cfg.bucket_probs), crowd_prob=cfg.crowd_prob, seed=cfg.data_seed)
    train = panoptic_fpn_dataset(kind, root, tr, hflip=cfg.hflip, sem_classes=cfg.sem_classes,
                                 scale_range=cfg.scale_range, crop_size=cfg.crop_size)
    val = panoptic_fpn_dataset(kind, root, va, sem_classes=cfg.sem_classes)
    for ds, cap in ((train, cfg.max_train_images), (val, cfg.max_val_images)):
        if cap:
            ds.ids = ds.det.ids = ds.ids[:cap]
    return Data(root, train, val, train.categories, train.thing_ids, train.stuff_ids, weights,
                deeper_weights(cfg, data_root))


def deeper_recipe(cfg):
    """``cfg`` with the deeper trunk (``cfg.deeper_backbone``) as the backbone: the recipe of variant "deeper"."""
    import dataclasses

    return dataclasses.replace(cfg, backbone=cfg.deeper_backbone, backbone_weights=cfg.deeper_backbone_weights)


def deeper_weights(cfg, data_root=None) -> Optional[str]:
    """The checked file of ``cfg.deeper_backbone_weights`` where variant "deeper" is trained (else None), found
    and loaded into ``cfg.deeper_backbone`` as :func:`paperlib.engine.detection.resolve_backbone_weights` does
    for the main trunk, so a missing or mismatched file stops the run before any training."""
    from ..engine.detection import resolve_backbone_weights

    if "deeper" not in cfg.variants:
        return None
    try:
        return resolve_backbone_weights(deeper_recipe(cfg), data_root)
    except (FileNotFoundError, ValueError) as e:          # name the field the user sets
        raise type(e)(f"deeper_backbone_weights (variant 'deeper', trunk {cfg.deeper_backbone}): {e}") from e


def width_of(cfg, factor: float) -> int:
    """Semantic branch width for a factor of ``cfg.sem_channels`` (the 1x width: the FPN width at the CPU
    profiles, whose factors 0.25 / 0.5 / 1 mirror the paper's 64 / 128 / 256 on a 256-channel FPN; 128 at
    the paper profile)."""
    from ..engine.panoptic import width_of as w

    return w(cfg, factor)


def build(cfg, data: Data, *, width_factor: float = 1.0, aggregate: str = "sum", lambda_s: float = 0.5,
          instance: bool = True, seed: int = 0, schedule: str = "joint", fpn_groups: int = 1, deeper: bool = False):
    """One network of the studies (:func:`paperlib.engine.panoptic.build_panoptic` with ``cfg`` as the recipe;
    ``deeper``: with ``cfg.deeper_backbone`` and its weights instead, Table 3b)."""
    from ..engine.panoptic import build_panoptic

    recipe, weights = (deeper_recipe(cfg), data.deeper_backbone_weights) if deeper else (cfg, data.backbone_weights)
    return build_panoptic(recipe, num_things=len(data.thing_ids), num_stuff=len(data.stuff_ids),
                          num_sem_classes=data.train.num_sem_classes,
                          width_factor=width_factor, aggregate=aggregate, lambda_s=lambda_s, instance=instance,
                          seed=seed, backbone_weights=weights, schedule=schedule, fpn_groups=fpn_groups)


def train_net(model, cfg, data: Data, device, seed: int, desc: str = "") -> dict:
    """Train ``model`` in place for ``cfg.iters`` iterations (lr x0.1 at 75 % or ``cfg.lr_steps``); history dict."""
    from ..engine.panoptic import train_panoptic

    return train_panoptic(model, cfg, data.train, device, seed, desc=desc)


def predict(model, data: Data, device, batch_size: int = 8, keep_score: float = 0.0) -> List[Dict[str, Any]]:
    """Per val image: :func:`paperlib.engine.panoptic.predict_panoptic` (semantic argmax, instance masks
    kept as RLE -- full-size masks of every val image would not fit in memory at Cityscapes' size --, scores,
    category ids, and the COCO results under "coco" for the AP)."""
    from ..engine.panoptic import predict_panoptic

    ds = data.val
    return predict_panoptic(model, len(ds), lambda j: ds[j][0], device, ds.label_to_cat_id,
                            batch_size=batch_size, keep_score=keep_score, image_ids=ds.ids, rle_masks=True)


def merge_all(preds, data: Data, cfg, *, overlap_thr=None, score_thr=None, stuff_area_frac=None,
              things_over_stuff: bool = True, sem_from=None) -> List[tuple]:
    """(id map, segments) per val image by the one merge (:func:`combine_semantic_instances`).
    ``sem_from``: the semantic predictions to use instead of ``preds``' own (separate networks);
    without any, every pixel is "other" (instances only)."""
    out = []
    for k, p in enumerate(preds):
        sem = (sem_from[k]["sem"] if sem_from is not None else p["sem"])
        h, w = (sem.shape if sem is not None else p["masks"].shape[-2:])
        sem_cat = data.val.stuff_map(sem) if sem is not None else np.zeros((h, w), np.int64)
        frac = cfg.stuff_area_frac if stuff_area_frac is None else stuff_area_frac
        masks = p["masks"] if p.get("masks") is not None else np.zeros((0, h, w), bool)
        scores = p["scores"] if p.get("masks") is not None else np.zeros(0)
        cats = p["cats"] if p.get("masks") is not None else np.zeros(0, np.int64)
        out.append(combine_semantic_instances(
            sem_cat, masks, scores, cats, stuff_category_ids=data.stuff_ids,
            confidence_thr=cfg.score_thr if score_thr is None else score_thr,
            overlap_thr=cfg.overlap_thr if overlap_thr is None else overlap_thr,
            stuff_area_limit=frac * h * w, things_over_stuff=things_over_stuff))
    return out


def _gt(data: Data) -> List[tuple]:
    if not hasattr(data, "_gt_cache"):
        data._gt_cache = [data.val.gt(i) for i in range(len(data.val))]
    return data._gt_cache


def pq_of(merged, data: Data) -> Dict[str, Any]:
    """PQ (paperlib's engine, panopticapi semantics) of merged predictions + per-image counts."""
    gts = _gt(data)
    samples = [(g, gs, p, ps, data.val.ids[i]) for i, ((g, gs), (p, ps)) in enumerate(zip(gts, merged))]
    res, images = pq_compute_arrays(samples, data.categories, return_images=True)
    cat_ids = [int(c["id"]) for c in data.categories]
    return {"res": res, "counts": per_image_counts(images, cat_ids), "cat_ids": cat_ids,
            "isthing": np.array([int(c["id"]) in set(data.thing_ids) for c in data.categories])}


def sem_confusions(preds, data: Data) -> Optional[np.ndarray]:
    """Per-image confusion matrices (n, C, C) of the semantic branch (its classes: other + stuff, or every
    category with ``sem_classes="all"``)."""
    if preds[0]["sem"] is None:
        return None
    n = data.val.num_sem_classes
    return np.stack([semantic_confusion(data.val.semantic(i), p["sem"], n, void_label=255)
                     for i, p in enumerate(preds)])


def ap_of(preds, data: Data):
    """Mask AP (pycocotools, via paperlib.metrics.coco) and the COCOeval for image bootstraps."""
    from ..metrics.coco import evaluate_coco

    if preds[0].get("masks") is None:
        return None, None
    res = [r for p in preds for r in p["coco"]]
    for r in res:
        r.pop("bbox", None)                   # pitfall: with a bbox the segm area would be the box area
    m, E = evaluate_coco(data.val.coco, res, "segm", img_ids=list(data.val.ids), return_eval=True)
    return m, E


@dataclass
class Net:
    """One trained network's predictions and scores."""
    name: str
    seed: int
    preds: list
    hist: dict
    model: Any = None
    ap: Optional[dict] = None
    E: Any = None
    conf: Optional[np.ndarray] = None
    pq: Optional[dict] = None
    extra: dict = field(default_factory=dict)

    @property
    def miou(self) -> float:
        if self.conf is None:
            return float("nan")
        return 100.0 * miou_from_confusion(self.conf.sum(0), range(self.conf.shape[-1]))


def evaluate(name, model, hist, cfg, data, device, seed, keep_model: bool = False) -> Net:
    preds = predict(model, data, device, keep_score=min([cfg.score_thr, *cfg.score_thrs]))
    if getattr(model, "instance", False) and model.loss_weight_sem == 0:
        for p in preds:                 # lambda_s = 0: the head was never trained, it is not part of the model
            p["sem"] = None
    ap, E = ap_of(preds, data)
    for p in preds:
        p.pop("coco", None)
    net = Net(name, seed, preds, hist, model if keep_model else None, ap, E, sem_confusions(preds, data))
    if preds[0].get("masks") is not None:
        net.pq = pq_of(merge_all(preds, data, cfg), data)
    return net


def _train_eval(cfg, data: Data, device, job: dict) -> Net:
    m = build(cfg, data, seed=job["seed"], **job["build"])
    hist = train_net(m, cfg, data, device, job["seed"], desc=job["name"])
    return evaluate(job["name"], m, hist, cfg, data, device, job["seed"], keep_model=True)


def _worker(cfg, data_root, job):
    torch.set_num_threads(1)
    return _train_eval(cfg, prepare(cfg, data_root), "cpu", job)


def run_jobs(cfg, data: Data, device, jobs: List[dict], data_root=None) -> Dict[Any, Net]:
    """Train and evaluate every job ({key, name, seed, build: build() keywords}); on the CPU with
    ``cfg.workers`` > 1 in that many spawned processes (one torch thread each; every job seeds its own
    initialisation and loader, so the results do not depend on the number of workers)."""
    if cfg.workers <= 1 or str(device) != "cpu" or len(jobs) < 2:
        return {j["key"]: _train_eval(cfg, data, device, j) for j in jobs}
    import concurrent.futures as cf
    import multiprocessing as mp

    with cf.ProcessPoolExecutor(max_workers=cfg.workers, mp_context=mp.get_context("spawn")) as ex:
        futs = {j["key"]: ex.submit(_worker, cfg, data_root, j) for j in jobs}
        return {k: f.result() for k, f in futs.items()}


def study_jobs(cfg) -> List[dict]:
    """Step 1 (T1c/d analogue: semantic-only networks per width factor, summed, plus the 1x branch
    concatenated) and step 2 (T2a analogue: joint networks per lambda_s, lambda_i = cfg.lambda_i), every
    seed, and the T3b-d analogues (``cfg.variants``: the joint network at ``cfg.joint_lambda_s`` with a deeper
    trunk, alternating losses or a grouped FPN). Keys: ("sem", factor, aggregate, seed), ("joint", lambda_s, seed) and
    ("joint", variant, seed)."""
    jobs = []
    for lam in cfg.lambdas_s:                     # the slow ones first
        for s in cfg.seeds:
            jobs.append({"key": ("joint", lam, s), "name": f"joint ls={lam:g} s{s}", "seed": s,
                         "build": {"lambda_s": lam}})
    for v in cfg.variants:
        for s in cfg.seeds:
            jobs.append({"key": ("joint", v, s), "name": f"{v} ls={cfg.joint_lambda_s:g} s{s}", "seed": s,
                         "build": {"lambda_s": cfg.joint_lambda_s, **VARIANTS[v]}})
    for f, agg in [(f, "sum") for f in cfg.width_factors] + [(1.0, "concat")]:
        for s in cfg.seeds:
            jobs.append({"key": ("sem", f, agg, s), "name": f"semantic {f:g}x {agg} s{s}", "seed": s,
                         "build": {"width_factor": f, "aggregate": agg, "instance": False, "lambda_s": 1.0}})
    return jobs


#: build() keywords of the Table 3 designs: (b) a deeper trunk (R101 for R50) at about the separate pair's compute,
#: (c) alternating losses, (d) grouped FPN (2 x 128 ch)
VARIANTS = {"alternate": {"schedule": "alternate"}, "grouped": {"fpn_groups": 2}, "deeper": {"deeper": True}}


def run_studies(cfg, data: Data, device, data_root=None):
    """Steps 1 and 2 (+ the T3b-d designs): (sem {(factor, aggregate, seed): Net}, joint {(lambda_s, seed): Net,
    and (variant, seed): Net for ``cfg.variants``})."""
    nets = run_jobs(cfg, data, device, study_jobs(cfg), data_root)
    sem = {k[1:]: v for k, v in nets.items() if k[0] == "sem"}
    joint = {k[1:]: v for k, v in nets.items() if k[0] == "joint"}
    return sem, joint


def _pq_row(res) -> Dict[str, float]:
    return {"PQ": 100 * res["All"]["pq"], "PQ_Th": 100 * res["Things"]["pq"], "PQ_St": 100 * res["Stuff"]["pq"],
            "SQ": 100 * res["All"]["sq"], "RQ": 100 * res["All"]["rq"]}


def merge_study(cfg, data: Data, net: Net) -> List[dict]:
    """Step 3: one parameter at a time around the defaults, plus stuff-over-things, on ``net``'s predictions."""
    rows = []
    base = dict(overlap_thr=cfg.overlap_thr, score_thr=cfg.score_thr, stuff_area_frac=cfg.stuff_area_frac)
    settings = [("default", {})]
    settings += [("overlap_thr", {"overlap_thr": v}) for v in cfg.overlap_thrs if v != cfg.overlap_thr]
    settings += [("score_thr", {"score_thr": v}) for v in cfg.score_thrs if v != cfg.score_thr]
    settings += [("stuff_area_frac", {"stuff_area_frac": v}) for v in cfg.stuff_area_fracs if v != cfg.stuff_area_frac]
    settings += [("things_over_stuff", {"things_over_stuff": False})]
    for what, kw in settings:
        p = {**base, "things_over_stuff": True, **kw}
        merged = merge_all(net.preds, data, cfg, **p)
        res = pq_of(merged, data)
        fp_st = int(res["counts"][:, ~res["isthing"], 1].sum())
        rows.append({"varied": what, **p, "stuff_area_px": round(p["stuff_area_frac"] * float(np.prod(mac_size(cfg))), 1),
                     **_pq_row(res["res"]), "FP_stuff": fp_st, "_counts": res["counts"]})
    return rows


def joint_vs_separate(cfg, data: Data, sem: Dict[tuple, Net], joint: Dict[tuple, Net]) -> Dict[str, Any]:
    """Step 4 (T3a analogue): per seed, the joint network (lambda_s = cfg.joint_lambda_s) vs the separate pair
    (the lambda_s = 0 detector of step 2 + the 1x summed semantic-only network of step 1, merged); with
    variant "deeper" trained, also the T3b row "deeper" (the joint network on ``cfg.deeper_backbone``)."""
    deeper = "deeper" in cfg.variants
    rows, counts = [], {"joint": [], "separate": [], **({"deeper": []} if deeper else {})}
    for s in cfg.seeds:
        j, d, m = joint[(cfg.joint_lambda_s, s)], joint[(0.0, s)], sem[(1.0, "sum", s)]
        sep = pq_of(merge_all(d.preds, data, cfg, sem_from=m.preds), data)
        arms = [("separate", sep, d.ap, m.miou), ("joint", j.pq, j.ap, j.miou)]
        if deeper:
            b = joint[("deeper", s)]
            arms.append(("deeper", b.pq, b.ap, b.miou))
        for name, net_pq, ap, miou in arms:
            rows.append({"model": name, "seed": s, "AP": 100 * ap["AP"], "mIoU": miou, **_pq_row(net_pq["res"])})
            counts[name].append(net_pq["counts"])
    return {"rows": rows, "counts": counts, "macs": macs(cfg, data, sem, joint)}


class _Part(torch.nn.Module):
    """One piece of a network as a module of one tensor input, for paperlib.metrics.complexity."""

    def __init__(self, fn, *mods):
        super().__init__()
        self.mods = torch.nn.ModuleList(mods)
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def mac_parts(model, height: int, width: int, n_rois: int, n_dets: int) -> Dict[str, float]:
    """Multiply-adds of one forward by part, counted by :func:`paperlib.metrics.complexity.complexity`
    (pycls convention, meta device): "backbone" (body + FPN), "rpn" (RPN head on P2..P6), "roi" (box head on
    ``n_rois`` proposals + mask head on ``n_dets`` detections: the test-time budgets, so networks with
    different detections compare fairly) and "semantic" (the branch on P2..P5)."""
    from ..metrics.complexity import complexity

    size = (3, height, width)
    bb = model.detector.backbone if model.instance else model.backbone
    base = complexity(_Part(bb, bb), size)["flops"]
    out = {"backbone": float(base), "rpn": 0.0, "roi": 0.0,
           "semantic": float(complexity(_Part(lambda x: model.sem_head(bb(x)), bb, model.sem_head), size)["flops"]
                             - base)}
    if model.instance:
        det = model.detector
        rh, c = det.roi_heads, bb.out_channels
        out["rpn"] = float(complexity(_Part(lambda x: det.rpn.head(list(bb(x).values())), bb, det.rpn.head),
                                      size)["flops"] - base)
        box = complexity(_Part(lambda x: rh.box_predictor(rh.box_head(x)), rh.box_head, rh.box_predictor),
                         (c, 7, 7))["flops"]
        mask = complexity(_Part(lambda x: rh.mask_predictor(rh.mask_head(x)), rh.mask_head, rh.mask_predictor),
                          (c, 14, 14))["flops"]
        out["roi"] = float(n_rois * box + n_dets * mask)
    return out


def untrained(cfg, data: Data, *, deeper: bool = False):
    """The joint network of ``cfg`` (``deeper``: on ``cfg.deeper_backbone``) built on the meta device without
    weights (frozen BN built as BN: the same convs), for counting multiply-adds; the global RNG is left as it was."""
    import dataclasses

    from ..engine.panoptic import build_panoptic

    r = deeper_recipe(cfg) if deeper else cfg
    r = dataclasses.replace(r, norm="bn" if r.norm == "frozen_bn" else r.norm, backbone_weights=None)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return build_panoptic(r, num_things=len(data.thing_ids), num_stuff=len(data.stuff_ids),
                              lambda_s=cfg.joint_lambda_s)


def macs(cfg, data: Data, sem, joint) -> Dict[str, Any]:
    """MACs per image of the joint network and the separate pair (detector + semantic network): for this
    run's networks at :func:`mac_size` (the scenes' size, or the real dataset's test size) and, with the same function, for the paper's R50-FPN networks at
    800 x 1216 (1000 proposals, 100 detections). joint = backbone + rpn + roi + semantic; separate =
    (backbone + rpn + roi) + (backbone + semantic). T3b: "deeper" = the joint network on the deeper trunk
    (``cfg.deeper_backbone``) and its ratio to the separate pair, here and for R101-FPN vs two R50-FPN at
    800 x 1216. The first seed's trained networks are counted where ``joint`` holds them, else networks built
    untrained (:func:`untrained`; multiply-adds do not depend on the weights)."""
    def pair(parts, deeper_parts):
        j = parts["backbone"] + parts["rpn"] + parts["roi"] + parts["semantic"]
        sep = 2 * parts["backbone"] + parts["rpn"] + parts["roi"] + parts["semantic"]
        deep = sum(deeper_parts.values())
        return {"joint": j, "separate": sep, "ratio_joint_separate": j / sep, "deeper": deep,
                "ratio_deeper_separate": deep / sep, **{f"part_{k}": v for k, v in parts.items()},
                "part_deeper_backbone": deeper_parts["backbone"]}

    budgets = (*mac_size(cfg), cfg.rpn_post_nms_top_n_test, cfg.box_detections_per_img)

    def model(key, deeper):
        net = joint.get((key, cfg.seeds[0]))
        return net.model.cpu() if net is not None and net.model is not None else untrained(cfg, data, deeper=deeper)

    ours = pair(mac_parts(model(cfg.joint_lambda_s, False), *budgets), mac_parts(model("deeper", True), *budgets))
    return {**ours, "deeper_backbone": cfg.deeper_backbone, "paper_r50": pair(*_paper_parts())}


#: the input size (H, W) at which a dataset's networks are counted: COCO's usual 800 x 1216 (shorter side 800, the
#: long side of a typical 4:3 image padded to 32), Cityscapes' full 1024 x 2048 test image
MAC_SIZES = {"coco": (800, 1216), "cityscapes": (1024, 2048)}


def mac_size(cfg) -> tuple:
    """(H, W) of the MAC count of this run's networks: the scenes' square size, or the dataset's test size."""
    return MAC_SIZES.get(cfg.dataset, (cfg.image_size, cfg.image_size))


@functools.lru_cache(maxsize=1)
def _paper_parts():
    """mac_parts of the registered R50-FPN and R101-FPN Panoptic FPNs at 800 x 1216 (1000 proposals, 100
    detections), built on the meta device (no memory, no init time); constant, so counted once per process."""
    from ..models import create_model

    with torch.device("meta"):
        r50, r101 = create_model("panoptic_fpn_r50_fpn"), create_model("panoptic_fpn_r101_fpn")
    return mac_parts(r50, 800, 1216, 1000, 100), mac_parts(r101, 800, 1216, 1000, 100)
