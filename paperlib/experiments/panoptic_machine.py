"""04 Panoptic Segmentation, the machine (T5, T6; claims C3 and C5), trained on fresh scenes, its outputs
merged by the paper's heuristic (separate vs merged) and compared with the simulated humans. Two machines
(``cfg.machine``): "fcn", a tiny FCN with a semantic head and thing / boundary heads plus a tiny RoI
classifier (the CPU stand-in, trained with the shared engine), and "panoptic_fpn", paperlib's Panoptic FPN
(:mod:`paperlib.models.panoptic_fpn`, trained and run by :mod:`paperlib.engine.panoptic`, the code 06 uses),
the spec's ``gpu`` machine. ``cfg.machine_seeds`` machines are trained (one per seed) so that the trained
contrasts of C3 and C5 have a seed std.

Split out of :mod:`paperlib.experiments.panoptic_segmentation` (same paper; scenes, annotators and the
evaluation helpers live there) to keep each module small. Paper notes:
``docs/papers/04_panoptic_segmentation.md``.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any, Dict, List

import numpy as np

from ..data import panoptic as pan
from ..metrics import pq as pqm
from .panoptic_segmentation import (PAPER_T5, PAPER_T6, AnnotatorNoise, annotate, annotator_pairs, categories,
                                    evaluate, make_scenes, noise_from_cfg, stuff_ids, stuff_limit, thing_ids)


def _targets(scene, cats):
    """Per-pixel training targets: semantic index (0..S-1 over category ids 1..S, -1 = VOID),
    thing class (0 = stuff, 1..T, -1 = VOID / crowd) and instance ids (0 for stuff)."""
    catd = {c["id"]: c for c in cats}
    ids = scene["ids"]
    sem = scene["semantic"].astype(np.int64) - 1            # VOID (0) -> -1
    thing = np.full(ids.shape, -1, np.int64)
    inst = np.zeros(ids.shape, np.int64)
    for s in scene["segments"]:
        m = ids == s["id"]
        if catd[s["category_id"]]["isthing"] == 1:
            if s["iscrowd"]:
                sem[m] = -1
                continue
            thing[m] = s["category_id"]
            inst[m] = s["id"]
        else:
            thing[m] = 0
    return sem, thing, inst



def machine_dataset(scenes, cats):
    """TensorDataset of (uint8 images (N, 3, H, W), int16 semantic, int16 thing, int32 instance
    targets) - compact, so that the gpu profile's thousands of 256-512 px scenes fit in memory;
    :func:`normalize` converts a batch."""
    import torch

    x = torch.from_numpy(np.stack([s["image"] for s in scenes])).permute(0, 3, 1, 2).contiguous()
    t = [_targets(s, cats) for s in scenes]
    sem = torch.from_numpy(np.stack([a for a, _, _ in t]).astype(np.int16))
    thing = torch.from_numpy(np.stack([b for _, b, _ in t]).astype(np.int16))
    inst = torch.from_numpy(np.stack([c for _, _, c in t]).astype(np.int32))
    return torch.utils.data.TensorDataset(x, sem, thing, inst)



def normalize(x_uint8):
    """uint8 images -> float, roughly zero-mean unit-variance."""
    return (x_uint8.float() / 255.0 - 0.5) / 0.25



def _step(model, batch, device):
    from ..models.segmentation import panoptic_losses

    x, sem, thing, inst = (t.to(device) for t in batch)
    x, sem, thing, inst = normalize(x), sem.long(), thing.long(), inst.long()
    if model.training and np.random.random() < 0.5:        # horizontal flip
        x, sem, thing, inst = (t.flip(-1) for t in (x, sem, thing, inst))
    return panoptic_losses(model(x), sem, thing, inst)



def roi_dataset(scenes, cats, rng):
    """RoI-classifier training set: one crop per non-crowd GT thing, plus a copy with its mask
    dilated or eroded by 1 px (the predicted masks are imperfect)."""
    import torch
    from scipy import ndimage

    from ..models.segmentation import roi_crops

    th = thing_ids(cats)
    x = machine_dataset(scenes, cats).tensors[0]
    crops, labels = [], []
    for i, s in enumerate(scenes):
        ms, ls = [], []
        for seg in s["segments"]:
            if seg["category_id"] in th and not seg["iscrowd"]:
                m = s["ids"] == seg["id"]
                ms.append(m)
                ls.append(th.index(seg["category_id"]))
                m2 = ndimage.binary_dilation(m) if rng.random() < 0.5 else ndimage.binary_erosion(m)
                if m2.sum() >= 4:
                    ms.append(m2)
                    ls.append(th.index(seg["category_id"]))
        if ms:
            crops.append(roi_crops(normalize(x[i]), np.stack(ms)))
            labels.extend(ls)
    return torch.utils.data.TensorDataset(torch.cat(crops), torch.tensor(labels, dtype=torch.long))



def _roi_step(model, batch, device):
    import torch.nn.functional as F

    x, y = (t.to(device) for t in batch)
    if model.training and np.random.random() < 0.5:
        x = x.flip(-1)
    return F.cross_entropy(model(x), y)



def train_machine(cfg, device, cats, seed: int = 0) -> Dict[str, Any]:
    """Train the tiny FCN and the RoI classifier on ``cfg.n_train`` fresh scenes (a different
    generator seed from the evaluation scenes) with the shared engine (AdamW, cosine)."""
    import torch

    from ..engine import TrainConfig, make_loader, train
    from ..models.segmentation import TinyPanopticFCN, TinyRoIClassifier

    torch.manual_seed(seed)
    train_scenes = make_scenes(cfg.n_train, cfg, seed=cfg.data_seed + 1000 + seed)
    ds = machine_dataset(train_scenes, cats)
    loader = make_loader(ds, cfg.batch_size, shuffle=True, seed=seed, drop_last=True)
    model = TinyPanopticFCN(num_semantic=len(cats), num_things=len(thing_ids(cats)), width=cfg.width)
    tc = TrainConfig(epochs=cfg.epochs, max_steps=cfg.max_steps, batch_size=cfg.batch_size,
                     optimizer="adamw", lr=cfg.lr, weight_decay=1e-4, schedule="cosine",
                     warmup_epochs=min(0.5, cfg.epochs), amp=False, log_every=cfg.log_every, seed=seed)
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=_step, desc="tiny panoptic FCN",
                 progress=cfg.progress)
    roi_ds = roi_dataset(train_scenes, cats, np.random.default_rng(seed))
    roi = TinyRoIClassifier(len(thing_ids(cats)), width=cfg.width)
    roi_loader = make_loader(roi_ds, 64, shuffle=True, seed=seed, drop_last=len(roi_ds) >= 64)
    tc_roi = TrainConfig(epochs=cfg.roi_epochs, max_steps=cfg.max_steps, batch_size=64, optimizer="adamw",
                         lr=cfg.lr, weight_decay=1e-4, schedule="cosine", warmup_epochs=min(0.5, cfg.roi_epochs),
                         amp=False, log_every=cfg.log_every, seed=seed)
    roi_hist = train(roi, roi_loader, tc_roi, device=device, step_fn=_roi_step, desc="RoI classifier",
                     progress=cfg.progress)
    return {"model": model, "roi": roi, "history": hist, "roi_history": roi_hist,
            "train_seconds": time.time() - t0, "roi_train_size": len(roi_ds)}



def fpn_recipe(cfg) -> SimpleNamespace:
    """The Panoptic FPN machine's recipe (the fields :mod:`paperlib.engine.panoptic` reads), from 04's
    ``fpn_*`` fields. Sizes follow the image (spec pitfall: no upsampling to 800 px): min/max size =
    image_size; anchors 8..128 px and Eq. 1's canonical size 56 (= 224 x 8 / 32) at <= 191 px, times
    round(image_size / 128) above (06's default and gpu profiles: 96 px -> 8..128, 256 px -> 16..256);
    branch width = FPN width; RPN / RoI budgets 200 / 200 / 64 per image at <= 128 px (CPU), torchvision's
    2000 / 1000 / 512 above; GN everywhere (from scratch); lambda_i 1; lr x0.1 at 75 % of fpn_iters."""
    f = max(1, round(cfg.image_size / 128))
    big = cfg.image_size > 128
    return SimpleNamespace(
        backbone=cfg.fpn_backbone, norm="gn", head_norm="gn", fpn_channels=cfg.fpn_channels,
        sem_channels=cfg.fpn_channels, representation_size=4 * cfg.fpn_channels, min_size=cfg.image_size,
        max_size=cfg.image_size, anchor_sizes=[8 * f * 2 ** k for k in range(5)], canonical_scale=56 * f,
        rpn_post_nms_top_n_test=1000 if big else 100, rpn_pre_nms_top_n_train=2000 if big else 200,
        rpn_post_nms_top_n_train=1000 if big else 200, box_batch_size_per_image=512 if big else 64,
        box_detections_per_img=100, box_score_thresh=0.05, lambda_i=1.0, iters=cfg.fpn_iters,
        batch_size=cfg.fpn_batch_size, lr=cfg.fpn_lr, weight_decay=1e-4, warmup_epochs=0.5, clip_grad=10.0,
        max_steps=cfg.max_steps, log_every=cfg.log_every, num_workers=0, progress=cfg.progress)


def fpn_train_data(cfg, seed: int):
    """The machine's training scenes in the COCO (panoptic) layout the Panoptic FPN dataset reads: the shared
    scene generator (:func:`paperlib.data.scenes.synthetic_scenes`, cached) with 04's scene parameters and
    a generator seed different from the evaluation scenes'."""
    from ..data.panoptic_dataset import panoptic_fpn_dataset
    from ..data.scenes import synthetic_scenes

    root = synthetic_scenes(n_train=cfg.n_train, n_val=0, image_size=cfg.image_size, min_objects=cfg.min_objects,
                            max_objects=cfg.max_objects, crowd_prob=cfg.crowd_prob, bucket_probs=(0.6, 0.4, 0.0),
                            seed=cfg.data_seed + 1000 + seed)
    return panoptic_fpn_dataset("scenes", root, "train", hflip=True)


def train_fpn_machine(cfg, device, cats, seed: int = 0) -> Dict[str, Any]:
    """Train paperlib's Panoptic FPN (joint loss, lambda_s = ``cfg.fpn_lambda_s``) on ``cfg.n_train`` fresh
    scenes with :func:`paperlib.engine.panoptic.train_panoptic`."""
    from ..engine.panoptic import build_panoptic, train_panoptic

    ds = fpn_train_data(cfg, seed)
    if ds.stuff_ids != stuff_ids(cats) or ds.thing_ids != thing_ids(cats):
        raise ValueError(f"training scenes' categories (things {ds.thing_ids}, stuff {ds.stuff_ids}) differ from "
                         f"the evaluation scenes' ({thing_ids(cats)}, {stuff_ids(cats)})")
    rec = fpn_recipe(cfg)
    model = build_panoptic(rec, num_things=ds.num_things, num_stuff=ds.num_stuff, lambda_s=cfg.fpn_lambda_s,
                           seed=seed)
    hist = train_panoptic(model, rec, ds, device, seed, desc=f"Panoptic FPN machine s{seed}")
    return {"model": model, "roi": None, "history": hist, "train_seconds": hist["train_seconds"],
            "label_to_cat_id": dict(ds.label_to_cat_id)}


def predict_fpn_machine(trained, scenes, cfg, device, cats) -> List[Dict[str, Any]]:
    """Per scene, as :func:`predict_machine`: the semantic branch's argmax as category ids (stuff; 0 where
    it says "other", i.e. things) plus its raw labels ("sem_labels": 0 other, 1..S stuff), and the
    instances scoring >= ``cfg.confidence_thr`` (the merge looks no further) with their category ids."""
    import torch

    from ..data.panoptic_dataset import stuff_from_target
    from ..engine.panoptic import predict_panoptic

    def load(i):
        return torch.from_numpy(np.ascontiguousarray(scenes[i]["image"])).permute(2, 0, 1).float().div(255.0)

    preds = predict_panoptic(trained["model"], len(scenes), load, device, trained["label_to_cat_id"],
                             keep_score=cfg.confidence_thr)
    st = stuff_ids(cats)
    return [{"semantic": stuff_from_target(p["sem"], st), "sem_labels": p["sem"], "masks": p["masks"],
             "scores": p["scores"], "labels": p["cats"]} for p in preds]


def semantic_miou(A, preds, cats) -> float:
    """mIoU of the machine's semantic output against annotator A: over every category (VOID excluded) for
    the FCN, whose head predicts every category; over "other" + stuff for the Panoptic FPN, whose branch
    predicts those (06's class set; A's things -> "other")."""
    from ..data.panoptic_dataset import IGNORE, label_map

    if "sem_labels" in preds[0]:
        n = len(stuff_ids(cats)) + 1
        conf = sum(pqm.semantic_confusion(label_map(a[0], a[1], stuff_ids(cats), thing_ids(cats)), p["sem_labels"],
                                          n, void_label=IGNORE) for a, p in zip(A, preds))
        return pqm.miou_from_confusion(conf, range(n))
    ncls = max(c["id"] for c in cats) + 1
    conf = np.zeros((ncls, ncls), np.int64)
    for a, p in zip(A, preds):
        conf += pqm.semantic_confusion(pan.semantic_from_panoptic(a[0], a[1]), p["semantic"], ncls)
    return pqm.miou_from_confusion(conf, [c["id"] for c in cats])



def predict_machine(model, scenes, cfg, device, cats, roi=None) -> List[Dict[str, Any]]:
    """Per scene: semantic map (category ids) and instances (masks, scores, labels). Instance
    masks come from the FCN's thing + boundary heads; with ``roi`` their class comes from the RoI
    classifier and score = objectness x class probability, else from the thing head."""
    import torch

    from ..models.segmentation import instances_from_heads, roi_crops

    ds = machine_dataset(scenes, cats)
    model.eval()
    if roi is not None:
        roi.eval()
    th = thing_ids(cats)
    out = []
    with torch.no_grad():
        for i in range(0, len(ds), 16):
            x = normalize(ds.tensors[0][i:i + 16].to(device))
            o = model(x)
            sem = (o["sem"].argmax(1) + 1).cpu().numpy()
            for j in range(x.shape[0]):
                masks, scores, labels = instances_from_heads(o["thing"][j], o["boundary"][j],
                                                             min_area=cfg.min_instance_area,
                                                             boundary_thr=cfg.boundary_thr)
                if roi is not None and len(masks):
                    pr = torch.softmax(roi(roi_crops(x[j].cpu(), masks).to(device)), 1).cpu().numpy()
                    labels = pr.argmax(1) + 1
                    scores = scores * pr.max(1)
                labels = np.asarray([th[l - 1] for l in labels], np.int64)
                out.append({"semantic": sem[j].astype(np.int64), "masks": masks, "scores": scores,
                            "labels": labels})
    return out



def panoptic_predictions(preds, cfg, cats) -> Dict[str, list]:
    """separate (stuff-only from the semantic head, things-only from the instances) and merged
    (the heuristic) panoptic predictions, as (ids, segments) per image."""
    st = stuff_ids(cats)
    lim = stuff_limit(cfg)
    out = {"stuff_only": [], "things_only": [], "merged": []}
    for p in preds:
        for k, v in separate_and_merged(p, cfg, st, lim).items():
            out[k].append(v)
    return out



def separate_and_merged(p, cfg, stuff_category_ids, limit) -> Dict[str, tuple]:
    """One image's stuff-only, things-only and merged (heuristic) predictions as (ids, segments),
    from ``p`` = {semantic (H, W) category map, masks, scores, labels}."""
    h, w = p["semantic"].shape
    empty = np.zeros((0, h, w), bool)
    kw = dict(stuff_category_ids=stuff_category_ids, confidence_thr=cfg.confidence_thr,
              overlap_thr=cfg.overlap_thr, stuff_area_limit=limit)
    return {
        "stuff_only": pan.combine_semantic_instances(p["semantic"], empty, [], [], **kw),
        "things_only": pan.combine_semantic_instances(np.zeros((h, w), np.int64), p["masks"], p["scores"],
                                                      p["labels"], **kw),
        "merged": pan.combine_semantic_instances(p["semantic"], p["masks"], p["scores"], p["labels"], **kw),
    }



MACHINE_NAMES = {"fcn": "tiny FCN", "panoptic_fpn": "Panoptic FPN"}


def machine_seeds(cfg) -> List[int]:
    """The seeds of the trained machines: seeds[0], seeds[0] + 1, ... (``cfg.machine_seeds`` of them)."""
    return [cfg.seeds[0] + j for j in range(cfg.machine_seeds)]


def _train_predict(cfg, device, cats, scenes, seed):
    if cfg.machine == "panoptic_fpn":
        trained = train_fpn_machine(cfg, device, cats, seed=seed)
        return trained, predict_fpn_machine(trained, scenes, cfg, device, cats)
    trained = train_machine(cfg, device, cats, seed=seed)
    return trained, predict_machine(trained["model"], scenes, cfg, device, cats, roi=trained["roi"])


def machine_study(scenes, cfg, device, cats=None, human=None) -> Dict[str, Any]:
    """T5 / T6 analogues. GT = annotator A of the first seed; the human row is annotator B;
    machines: the trained machine (``cfg.machine``, + heuristic; tables from the first of
    ``cfg.machine_seeds`` training seeds, every seed's evaluation under "per_seed") and the spec's
    simulated machine."""
    cats = cats or categories()
    seed = cfg.seeds[0]
    A, B = annotator_pairs(scenes, cfg, seed, cats)
    out = {"A": A, "B": B, "machine": cfg.machine, "machine_name": MACHINE_NAMES[cfg.machine]}
    if cfg.train_machine:
        out["per_seed"], out["train_seconds_per_seed"] = [], []
        for ms in machine_seeds(cfg):
            trained, preds = _train_predict(cfg, device, cats, scenes, ms)
            pp = panoptic_predictions(preds, cfg, cats)
            ev = {k: evaluate([(a[0], a[1], q[0], q[1]) for a, q in zip(A, v)], cats) for k, v in pp.items()}
            out["per_seed"].append({"seed": ms, **ev})
            out["train_seconds_per_seed"].append(trained["train_seconds"])
            if len(out["per_seed"]) == 1:
                out.update(ev)
                out["semantic_mIoU"] = semantic_miou(A, preds, cats)
                out["merge_pixels"] = merge_pixel_effect(A, pp, cats)
                out["history"] = trained["history"]
                out["train_seconds"] = trained["train_seconds"]
                out["preds"] = preds[:4]
                out["panoptic"] = {k: v[:4] for k, v in pp.items()}
    out["human"] = evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    sim = AnnotatorNoise(**{**asdict(noise_from_cfg(cfg)), "p_drop_thing": cfg.sim_p_miss_small,
                            "n_blobs": cfg.sim_blobs})
    S = [annotate(s, sim, np.random.default_rng([seed, 5, k]), cats) for k, s in enumerate(scenes)]
    out["simulated"] = evaluate([(a[0], a[1], m[0], m[1]) for a, m in zip(A, S)], cats)
    return out



def merge_pixel_effect(A, pp, cats) -> List[dict]:
    """Where merging changes stuff: pixels the stuff-only prediction gave to a stuff class that the
    merged prediction gives to a thing (or VOID), split by whether that stuff label was right
    (against annotator A) - losses, the paper's effect - or wrong - removals of stuff errors."""
    st = set(stuff_ids(cats))
    right = wrong = total = 0
    for a, s_only, merged in zip(A, pp["stuff_only"], pp["merged"]):
        ga = pan.semantic_from_panoptic(a[0], a[1])
        ss = pan.semantic_from_panoptic(*s_only)
        mm = pan.semantic_from_panoptic(*merged)
        changed = np.isin(ss, list(st)) & (mm != ss)
        right += int((changed & (ga == ss)).sum())
        wrong += int((changed & (ga != ss) & (ga != 0)).sum())
        total += ga.size
    return [{"stuff pixels taken by merging": "correct stuff (the paper's loss)", "% of pixels": 100 * right / total},
            {"stuff pixels taken by merging": "wrong stuff (an error removed)", "% of pixels": 100 * wrong / total}]



def t5_rows(machine, name: str = None) -> List[dict]:
    name = name or machine.get("machine_name", "tiny FCN")
    rows = []
    if "merged" in machine:
        rows.append({"setting": f"{name}: separate", "PQ": None,
                     "PQ_St": 100 * machine["stuff_only"]["res"]["Stuff"]["pq"],
                     "PQ_Th": 100 * machine["things_only"]["res"]["Things"]["pq"]})
        m = machine["merged"]["res"]
        rows.append({"setting": f"{name}: merged (heuristic)", "PQ": 100 * m["All"]["pq"],
                     "PQ_St": 100 * m["Stuff"]["pq"], "PQ_Th": 100 * m["Things"]["pq"]})
    for ds, (s_st, s_th, m_pq, m_st, m_th) in PAPER_T5.items():
        rows.append({"setting": f"paper {ds}: separate", "PQ": None, "PQ_St": s_st, "PQ_Th": s_th})
        rows.append({"setting": f"paper {ds}: merged", "PQ": m_pq, "PQ_St": m_st, "PQ_Th": m_th})
    return rows



def t6_rows(machine) -> List[dict]:
    rows = []
    trained = f"machine: {machine.get('machine_name', 'tiny FCN')} + heuristic"
    for name, key in (("human (annotator B vs A)", "human"), (trained, "merged"),
                      ("machine: simulated (spec)", "simulated")):
        if key in machine:
            r = machine[key]["res"]["All"]
            rows.append({"setting": name, "PQ": 100 * r["pq"], "SQ": 100 * r["sq"], "RQ": 100 * r["rq"]})
    for ds, (h, m) in PAPER_T6.items():
        rows.append({"setting": f"paper {ds}: human", "PQ": h[0], "SQ": h[1], "RQ": h[2]})
        rows.append({"setting": f"paper {ds}: machine", "PQ": m[0], "SQ": m[1], "RQ": m[2]})
    return rows
