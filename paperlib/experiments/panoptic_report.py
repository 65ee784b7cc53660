"""04 Panoptic Segmentation, the verdicts and the rest of the report: claims C1..C6 (computed from the
studies; :func:`claims` gives them in the form the notebook loops over), the figures, and the user-file
studies of the ``paper`` profile (a COCO-panoptic prediction scored against the GT; T5 on the user's
semantic + instance predictions).

Split out of :mod:`paperlib.experiments.panoptic_segmentation` (same paper) to keep each module small.
Paper notes: ``docs/papers/04_panoptic_segmentation.md``.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..data import panoptic as pan
from ..metrics import pq as pqm
from ..metrics import stats
from .panoptic_machine import separate_and_merged, t5_rows
from .panoptic_segmentation import _ci, boot_counts, categories, stuff_ids, summary_row


def claim_c1(human, checks) -> stats.Verdict:
    u = human["uniqueness"]
    return stats.decide_all({
        "A1 golden case": checks["A1"],
        "PQ = SQ x RQ per category (|diff| < 1e-12)": human["identity_err"] < 1e-12,
        "no segment with two IoU>0.5 partners": u["segments_with_two_partners"] == 0,
        "greedy IoU>0.5 matching == optimal assignment": u["images_greedy_ne_optimal"] == 0,
        "A4 IoU(p1,g)+IoU(p2,g) <= 1": checks["A4"],
    }, matches=u["matches"])



def bucket_results(images, edges) -> List[List[pqm.ImageResult]]:
    """Split every image's events into size buckets [edges[b], edges[b+1]) (TP and FN by GT area,
    FP by predicted area, as :func:`paperlib.metrics.pq.size_bucket_pq`): one ImageResult list per
    bucket, so bucketed PQ can be bootstrapped over images."""
    edges = np.asarray(edges, float)
    nb = len(edges) - 1

    def b(a):
        return np.clip(np.searchsorted(edges, a, side="right") - 1, 0, nb - 1)

    out = [[] for _ in range(nb)]
    for r in images:
        bt, bp, bn = b(r.tp_gt_area), b(r.fp_area), b(r.fn_area)
        for k in range(nb):
            t, f, n = bt == k, bp == k, bn == k
            out[k].append(pqm.ImageResult(
                image_id=r.image_id, tp_cat=r.tp_cat[t], tp_iou=r.tp_iou[t], tp_gt_area=r.tp_gt_area[t],
                tp_pred_area=r.tp_pred_area[t], tp_gt_id=r.tp_gt_id[t], tp_pred_id=r.tp_pred_id[t],
                fp_cat=r.fp_cat[f], fp_area=r.fp_area[f], fn_cat=r.fn_cat[n], fn_area=r.fn_area[n]))
    return out



def claim_c2(human, cfg) -> stats.Verdict:
    """Recognition, not segmentation, collapses for small segments: (RQ_L - RQ_S) - (SQ_L - SQ_S)
    > 0. Images of all annotator seeds pooled; paired bootstrap over (seed, image) units."""
    cats = categories()
    S, L, per_seed = [], [], []
    for s in human["per_seed"]:
        bk = bucket_results(s["images"], s["edges"])
        S += bk[0]
        L += bk[-1]
        z = s["sizes"]
        per_seed.append((z["L"]["rq"] - z["S"]["rq"]) - (z["L"]["sq"] - z["S"]["sq"]))
    bs, fs, idx = boot_counts(S, cats, cfg.n_boot, seed=3)
    bl, fl, _ = boot_counts(L, cats, cfg.n_boot, index=idx)
    ms, ml = pqm.pq_from_counts(bs), pqm.pq_from_counts(bl)
    d = (ml["rq"] - ms["rq"]) - (ml["sq"] - ms["sq"])
    Fs, Fl = pqm.pq_from_counts(fs), pqm.pq_from_counts(fl)
    diff = float((Fl["rq"] - Fs["rq"]) - (Fl["sq"] - Fs["sq"]))
    lo, hi = _ci(d)
    seed_std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None
    return stats.decide_diff(diff, lo, hi, expect="+", seed_std=seed_std, min_effect=cfg.min_effect("C2") / 100,
                             rq_gap_L_minus_S=float(Fl["rq"] - Fs["rq"]),
                             sq_gap_L_minus_S=float(Fl["sq"] - Fs["sq"]), per_seed_contrast=per_seed,
                             rule="held if the 95% CI (bootstrap over images, seeds pooled) of "
                                  "(RQ_L-RQ_S) - (SQ_L-SQ_S) excludes 0 on the + side and the contrast exceeds "
                                  "max(2 x std over annotator seeds, the stated minimum)")



def trained_contrast(machine, cats, key_a: str, key_b: str, contrast, n_boot: int, seed: int = 0):
    """A contrast ``contrast(counts_a, counts_b)`` between two evaluations of the trained machines (``key_a``
    / ``key_b``: "human", "stuff_only", "things_only", "merged"), (seed, image) units of every training seed
    in ``machine["per_seed"]`` pooled: (diff on the pooled counts, 95 % CI of a paired bootstrap over the
    units, the contrast at each training seed, number of units)."""
    ids = [c["id"] for c in cats]

    def cnt(s, key):
        return pqm.per_image_counts((machine if key == "human" else s)[key]["images"], ids)

    runs = [(cnt(s, key_a), cnt(s, key_b)) for s in machine["per_seed"]]
    per_seed = [float(contrast(a.sum(0), b.sum(0))) for a, b in runs]
    ca, cb = np.concatenate([a for a, _ in runs]), np.concatenate([b for _, b in runs])
    idx = np.random.default_rng(seed).integers(0, ca.shape[0], size=(n_boot, ca.shape[0]))
    lo, hi = _ci(contrast(ca[idx].sum(1), cb[idx].sum(1)))
    return float(contrast(ca.sum(0), cb.sum(0))), lo, hi, per_seed, int(ca.shape[0])


def _rq_minus_sq_gap(h_counts, m_counts):
    h, m = pqm.pq_from_counts(h_counts), pqm.pq_from_counts(m_counts)
    return (h["rq"] - m["rq"]) - (h["sq"] - m["sq"])


def claim_c3(machine, cfg, key: str = "merged") -> stats.Verdict:
    """The machine-human gap is mostly RQ: (RQ_h - RQ_m) - (SQ_h - SQ_m) > 0, paired bootstrap over images
    (95 % CI). The trained machine ("merged"): a trained contrast, :func:`paperlib.metrics.stats.decide_trained`
    with the std over the ``cfg.machine_seeds`` training seeds (held and not held both need |diff| >
    max(2 x seed std, the stated minimum)); the simulated machine: no training, :func:`stats.decide_diff`."""
    cats = categories()
    if key != "simulated":
        diff, lo, hi, per_seed, n = trained_contrast(machine, cats, "human", key, _rq_minus_sq_gap, cfg.n_boot)
        h0, m0 = machine["human"]["res"]["All"], machine[key]["res"]["All"]
        return stats.decide_trained(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C3") / 100,
                                    per_seed=per_seed, n=n, machine=key, delta_RQ_first_seed=h0["rq"] - m0["rq"],
                                    delta_SQ_first_seed=h0["sq"] - m0["sq"],
                                    rule="trained contrast: held if the 95% CI of dRQ - dSQ ((seed, image) units of "
                                         "every training seed pooled, widened by the seed std) excludes 0 on the + "
                                         "side and |dRQ - dSQ| > max(2 x seed std, the stated minimum); not held "
                                         "likewise on the - side")
    bh, fh, idx = boot_counts(machine["human"]["images"], cats, cfg.n_boot, seed=0)
    bm, fm, _ = boot_counts(machine[key]["images"], cats, cfg.n_boot, index=idx)
    d = _rq_minus_sq_gap(bh, bm)
    H, Mf = pqm.pq_from_counts(fh), pqm.pq_from_counts(fm)
    diff = float(_rq_minus_sq_gap(fh, fm))
    lo, hi = _ci(d)
    return stats.decide_diff(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C3") / 100,
                             delta_RQ=float(H["rq"] - Mf["rq"]), delta_SQ=float(H["sq"] - Mf["sq"]), machine=key,
                             rule="held if the 95% CI of dRQ - dSQ excludes 0 on the + side and dRQ - dSQ "
                                  "exceeds the stated minimum (simulated machine: nothing trained)")



def claim_c4(t4, cfg) -> stats.Verdict:
    """Hallucinated stuff (k = max blobs vs 0, no area limit): (1) the PQ^St drop exceeds the mIoU drop
    by more than the stated minimum, (2) mIoU changes by less than ``cfg.miou_change_max_pts`` (the
    spec's 2 points). Paired bootstrap over images for both (PQ counts and per-image confusions)."""
    rows = {(r["blobs_per_image"], r["stuff_area_limit"]): r for r in t4["rows"]}
    kmax = max(cfg.blob_counts)
    r0, rk = rows[(0, 0)], rows[(kmax, 0)]
    drop_pq, drop_miou = r0["PQ_St"] - rk["PQ_St"], r0["mIoU"] - rk["mIoU"]
    cats = categories()
    st_mask = np.array([c["isthing"] != 1 for c in cats])
    all_ids = [c["id"] for c in cats]
    b0, _, idx = boot_counts(t4["images"][(0, "none")], cats, cfg.n_boot, seed=1)
    bk, _, _ = boot_counts(t4["images"][(kmax, "none")], cats, cfg.n_boot, index=idx)
    c0, ck = t4["confs"][(0, "none")], t4["confs"][(kmax, "none")]
    miou_drop_b = np.array([100 * (pqm.miou_from_confusion(c0[i].sum(0), all_ids)
                                   - pqm.miou_from_confusion(ck[i].sum(0), all_ids)) for i in idx])
    d = 100 * (pqm.pq_from_counts(b0, st_mask)["pq"] - pqm.pq_from_counts(bk, st_mask)["pq"]) - miou_drop_b
    lo, hi = _ci(d)
    gap = stats.decide_diff(drop_pq - drop_miou, lo, hi, expect="+", min_effect=cfg.min_effect("C4"),
                            quantity="PQ^St drop - mIoU drop (points)",
                            rule="held if the 95% CI excludes 0 on the + side and the gap exceeds the stated minimum")
    tol = cfg.miou_change_max_pts
    mlo, mhi = _ci(np.abs(miou_drop_b) - tol)
    small = stats.decide_diff(abs(drop_miou) - tol, mlo, mhi, expect="-",
                              quantity=f"|mIoU change| - {tol:g} points",
                              rule=f"held if the 95% CI of |mIoU change| lies below {tol:g} points (spec: "
                                   f"'mIoU should change by < {tol:g} points'), not held if above")
    return stats.combine([gap, small], PQ_St_drop=drop_pq, mIoU_drop=drop_miou, blobs=kmax)



def claim_c5(machine, cfg, cats=None) -> stats.Verdict:
    """Merging leaves PQ^Th unchanged (exact, at every training seed) and lowers PQ^St (paired bootstrap CI).
    With trained machines (``machine["per_seed"]``) the PQ^St drop is a trained contrast
    (:func:`paperlib.metrics.stats.decide_trained`, seed std over the training seeds, the floor on both
    sides); on the user's fixed prediction files (no training here) :func:`stats.decide_diff`. ``cats``:
    the evaluation's categories (default: the synthetic scenes'; the GT json's for user files)."""
    if "merged" not in machine:
        return stats.not_tested("no trained machine in this profile")
    cats = cats or categories()
    st_mask = np.array([c["isthing"] != 1 for c in cats])
    runs = machine.get("per_seed") or [machine]
    th_sep = [r["things_only"]["res"]["Things"]["pq"] for r in runs]
    th_mer = [r["merged"]["res"]["Things"]["pq"] for r in runs]
    exact = stats.decide_exact(th_mer, th_sep, quantity="PQ^Th merged vs separate (every training seed)")

    def st_drop(c_sep, c_mer):
        return pqm.pq_from_counts(c_sep, st_mask)["pq"] - pqm.pq_from_counts(c_mer, st_mask)["pq"]

    if "per_seed" in machine:
        diff, lo, hi, per_seed, n = trained_contrast(machine, cats, "stuff_only", "merged", st_drop, cfg.n_boot, seed=2)
        drop = stats.decide_trained(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C5") / 100,
                                    per_seed=per_seed, n=n, quantity="PQ^St separate - merged")
    else:
        bs, fs, idx = boot_counts(machine["stuff_only"]["images"], cats, cfg.n_boot, seed=2)
        bmg, fmg, _ = boot_counts(machine["merged"]["images"], cats, cfg.n_boot, index=idx)
        diff = float(st_drop(fs, fmg))
        lo, hi = _ci(st_drop(bs, bmg))
        drop = stats.decide_diff(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C5") / 100,
                                 quantity="PQ^St separate - merged (the user's fixed predictions: nothing trained)")
    return stats.combine([exact, drop], PQ_Th_separate=th_sep[0], PQ_Th_merged=th_mer[0], PQ_St_drop=diff)



def claim_c6(human, checks) -> stats.Verdict:
    """Dataset PQ is a mean over categories, so PQ != mean SQ x mean RQ; swapping GT and
    prediction changes PQ (VOID handling)."""
    s = human["per_seed"][0]
    r, sw = s["res"]["All"], s["swapped"]["All"]
    return stats.decide_all({
        "A1: PQ != mean SQ x mean RQ": abs(checks["a1_result"]["All"]["pq"] - checks["a1_result"]["All"]["sq"]
                                           * checks["a1_result"]["All"]["rq"]) > 1e-6,
        "human data: PQ != mean SQ x mean RQ": abs(r["pq"] - r["sq"] * r["rq"]) > 1e-6,
        "A5: swapping GT and prediction changes PQ": checks["A5"],
        "human data: swapped PQ differs": abs(r["pq"] - sw["pq"]) > 1e-9,
    }, pq=r["pq"], sq_x_rq=r["sq"] * r["rq"], swapped_pq=sw["pq"])


C5_STATEMENT = "Thing-over-stuff merging leaves PQ^Th unchanged and lowers PQ^St a little"


C5_PAPER = {"Cityscapes": "PQ^St 66.6 -> 66.4", "ADE20k": "27.4 -> 24.5", "Vistas": "43.7 -> 41.8"}



def claims(human, machine, checks, t4, cfg) -> List[Dict[str, Any]]:
    """C1..C6 (and C3 for the spec's simulated machine) as keyword arguments of ``run.claim`` (the notebook
    loops ``run.claim(**c)``), every verdict computed from this run's studies. C3 is judged on the merged
    trained machine when there is one, else on the simulated machine."""
    c3_key = "merged" if "merged" in machine else "simulated"
    return [
        dict(claim_id="C1", statement="PQ = SQ x RQ per category; matches at IoU > 0.5 are unique, so no assignment "
             "solver is needed and matching order does not matter", verdict=claim_c1(human, checks), trained=False,
             paper={"rule": "IoU > 0.5 => unique match"}),
        dict(claim_id="C2", statement="Humans disagree mostly on small segments, and mostly in recognition: RQ_L - RQ_S "
             "exceeds SQ_L - SQ_S", verdict=claim_c2(human, cfg),
             paper={"Cityscapes_S": "SQ 67.8 / RQ 51.5", "Cityscapes_L": "SQ 89.9 / RQ 94.1"}),
        dict(claim_id="C3", statement=f"The machine-human gap is mostly RQ ({c3_key} machine): RQ_h - RQ_m exceeds "
             "SQ_h - SQ_m", verdict=claim_c3(machine, cfg, c3_key),
             paper={"Cityscapes": "SQ 80.9 vs 84.1, RQ 74.4 vs 82.0", "ADE20k": "RQ 43.2 vs 78.6"}),
        dict(claim_id="C3_sim", statement="The gap is mostly RQ for the spec's simulated machine",
             verdict=claim_c3(machine, cfg, "simulated"), paper={"Cityscapes": "SQ 80.9 vs 84.1, RQ 74.4 vs 82.0"}),
        dict(claim_id="C4", statement="PQ sees errors that mIoU hides: hallucinated small stuff lowers PQ^St far more "
             "than mIoU", verdict=claim_c4(t4, cfg),
             paper={"G-RMI": "mIoU 30.6, PQ^St 19.3", "CASIA": "mIoU 32.3, PQ^St 27.4"}),
        dict(claim_id="C5", statement=C5_STATEMENT, verdict=claim_c5(machine, cfg), paper=dict(C5_PAPER)),
        dict(claim_id="C6", statement="Dataset PQ/SQ/RQ are unweighted category means, so PQ != mean SQ x mean RQ; "
             "the metric is asymmetric (VOID handling)", verdict=claim_c6(human, checks), trained=False),
    ]



def files_c5_claim(real, cfg) -> Dict[str, Any]:
    """C5 decided on the user's semantic + instance files (:func:`files_merge_study`), for ``run.claim``."""
    return dict(claim_id="C5", statement=C5_STATEMENT + " (user's semantic + instance predictions)",
                verdict=claim_c5(real, cfg, real["cats"]), paper=dict(C5_PAPER))



def iou_histogram_figure(human):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(human["matched_ious"], bins=np.linspace(0, 1, 21), color="#4c72b0", edgecolor="white")
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_xlabel("IoU of matched segments (annotator A vs B)")
    ax.set_ylabel("matches")
    ax.set_title(f"{100 * human['frac_below_half']:.1f}% of matches below 0.5 (paper: <16%)")
    fig.tight_layout()
    return fig



def alpha_figure(human, machine=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(human["alpha"], human["rq_alpha"], label="human (B vs A)")
    if machine is not None and "merged" in machine:
        tot = {"tp": 0, "fp": 0, "fn": 0}
        for v in machine["merged"]["res"]["per_class"].values():
            for k in tot:
                tot[k] += v[k]
        ax.plot(human["alpha"], [pqm.rq_alpha(tot["tp"], tot["fp"], tot["fn"], a) for a in human["alpha"]],
                label="machine (tiny FCN)")
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"RQ$^\alpha$ (pooled counts)")
    ax.legend()
    fig.tight_layout()
    return fig



def examples_figure(scenes, machine, n: int = 3):
    """Image, GT (annotator A), annotator B, machine merged prediction for the first scenes: colour = the
    category's own colour (the same in every panel), dark lines = segment boundaries, black = VOID."""
    import matplotlib.pyplot as plt

    from ..plots import panoptic_colour

    palette = {c["id"]: c["color"] for c in categories()}

    def color(ids, segs):
        return panoptic_colour(ids, segs, palette)

    cols = ["image", "annotator A (GT)", "annotator B"] + (["machine (merged)"] if "panoptic" in machine else [])
    n = min(n, len(scenes))
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n), squeeze=False)
    A = machine["A"]
    for i in range(n):
        panels = [scenes[i]["image"], color(*A[i])]
        panels.append(color(*machine["B"][i]) if "B" in machine else color(*A[i]))
        if "panoptic" in machine:
            panels.append(color(*machine["panoptic"]["merged"][i]))
        for j, im in enumerate(panels):
            axes[i, j].imshow(im, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(cols[j], fontsize=8)
    fig.suptitle("colour: category (the same in every panel) - dark lines: segment boundaries - black: VOID",
                 fontsize=7)
    fig.tight_layout()
    return fig


FILES_LAYOUT = """data_root/
  annotations/panoptic_val2017.json        GT (COCO panoptic: images, annotations, categories)
  annotations/panoptic_val2017/*.png       GT PNGs (RGB, id = R + 256 G + 256^2 B)
prediction: overrides={"pred_json": "/path/preds.json"} with PNGs in /path/preds/ (json path
without .json), one annotation per GT image_id, segments_info [{id, category_id}]"""



def files_study(cfg, data_root) -> Dict[str, Any]:
    """Evaluate a user-supplied COCO panoptic prediction against GT under ``data_root``."""
    import os

    if data_root is None:
        raise FileNotFoundError("dataset='files' needs data_root with the layout:\n" + FILES_LAYOUT)
    gt = os.path.join(str(data_root), cfg.gt_json)
    if not os.path.isfile(gt):
        raise FileNotFoundError(f"GT json {gt} not found; expected layout:\n{FILES_LAYOUT}")
    if not cfg.pred_json:
        raise FileNotFoundError("set overrides={'pred_json': ...} (or 'semantic_pred' + 'instance_pred_json' "
                                "to merge, see MERGE_LAYOUT); expected layout:\n" + FILES_LAYOUT)
    pred = cfg.pred_json if os.path.isabs(cfg.pred_json) else os.path.join(str(data_root), cfg.pred_json)
    res, images = pqm.pq_compute(gt, pred, workers=cfg.workers, return_images=True)
    return {"res": res, "images": images, "rows": [summary_row("user prediction", res)]}


MERGE_LAYOUT = """data_root/
  annotations/panoptic_val2017.json        GT (cfg.gt_json; COCO panoptic: images, annotations, categories)
  annotations/panoptic_val2017/*.png       GT PNGs
  <semantic_pred>    either a COCO stuff results json [{image_id, category_id, segmentation: RLE}]
                     (panopticapi combine script's --semseg_json_file; thing classes are ignored),
                     or a folder of single-channel PNG label maps <image stem>.png, pixel = category id
  <instance_pred_json>  COCO detection results json [{image_id, category_id, segmentation: RLE, score}]
                     (--instseg_json_file)
set them with overrides={"semantic_pred": ..., "instance_pred_json": ...} (relative to data_root or absolute)"""



def _user_path(data_root, p):
    import os

    return p if os.path.isabs(p) else os.path.join(str(data_root), p)



def files_merge_limit(cfg) -> float:
    """Stuff area limit for real images: the script's unscaled 64*64 px unless set in the config."""
    return float(cfg.stuff_area_limit) if cfg.stuff_area_limit is not None else 64.0 * 64.0



def files_merge_study(cfg, data_root, out_dir) -> Dict[str, Any]:
    """T5 on real data: merge the user's semantic and instance results with the paper's heuristic
    (panopticapi's combine script), write stuff-only, things-only and merged COCO panoptic
    predictions (PNG + json) under ``out_dir`` and score each against the GT with ``pq_compute``."""
    import os

    if data_root is None:
        raise FileNotFoundError("the merge study needs data_root with the layout:\n" + MERGE_LAYOUT)
    for key in ("gt_json", "semantic_pred", "instance_pred_json"):
        if not getattr(cfg, key):
            raise FileNotFoundError(f"set overrides={{'{key}': ...}}; expected layout:\n{MERGE_LAYOUT}")
    gt = _user_path(data_root, cfg.gt_json)
    sem = _user_path(data_root, cfg.semantic_pred)
    inst = _user_path(data_root, cfg.instance_pred_json)
    for key, path, ok in (("gt_json", gt, os.path.isfile(gt)),
                          ("GT PNG folder", gt.replace(".json", ""), os.path.isdir(gt.replace(".json", ""))),
                          ("semantic_pred", sem, os.path.exists(sem)),
                          ("instance_pred_json", inst, os.path.isfile(inst))):
        if not ok:
            raise FileNotFoundError(f"{key}: {path} not found; expected layout:\n{MERGE_LAYOUT}")
    gt_data = pan.load_json(gt)
    cats = gt_data["categories"]
    images = {im["id"]: im for im in gt_data["images"]}
    st = stuff_ids(cats)
    limit = files_merge_limit(cfg)
    sem_folder = os.path.isdir(sem)
    sem_by = None if sem_folder else pan.results_by_image(pan.load_results_json(sem))
    inst_by = pan.results_by_image(pan.load_results_json(inst))
    if not inst_by.keys() & images.keys():
        raise ValueError(f"instance_pred_json {inst}: no result has an image_id of the GT images")
    os.makedirs(str(out_dir), exist_ok=True)
    kinds = ("stuff_only", "things_only", "merged")
    paths = {k: os.path.join(str(out_dir), f"panoptic_{k}.json") for k in kinds}
    anns = {k: [] for k in kinds}
    for k in kinds:
        os.makedirs(paths[k][:-5], exist_ok=True)
    for gt_ann in gt_data["annotations"]:
        iid = gt_ann["image_id"]
        if iid not in images:
            raise ValueError(f"GT annotation for image_id {iid} has no entry in the GT json's images")
        h, w = int(images[iid]["height"]), int(images[iid]["width"])
        fname = gt_ann["file_name"]
        if sem_folder:
            semantic = pan.read_semantic_png(os.path.join(sem, os.path.splitext(fname)[0] + ".png"), h, w)
        else:
            semantic = pan.semantic_map_from_results(sem_by.get(iid, []), h, w)
        masks, scores, labels = pan.instances_from_results(inst_by.get(iid, []), h, w,
                                                           min_score=cfg.confidence_thr)
        p = {"semantic": semantic, "masks": masks, "scores": scores, "labels": labels}
        for k, (ids, segs) in separate_and_merged(p, cfg, st, limit).items():
            info = pan.segments_info_from_ids(ids, {s["id"]: s["category_id"] for s in segs})
            pan.write_panoptic_png(os.path.join(paths[k][:-5], fname), ids)
            anns[k].append({"image_id": iid, "file_name": fname, "segments_info": info})
    out: Dict[str, Any] = {"cats": cats, "limit": limit, "paths": paths, "n_images": len(gt_data["annotations"]),
                           "semantic_format": "png folder" if sem_folder else "json (RLE)"}
    for k in kinds:
        pan.save_json({"images": gt_data["images"], "annotations": anns[k], "categories": cats}, paths[k])
        res, imgs = pqm.pq_compute(gt, paths[k], workers=cfg.workers, return_images=True)
        out[k] = {"res": res, "images": imgs}
    out["rows"] = t5_rows(out, name="user files")
    return out
