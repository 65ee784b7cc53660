"""03 Watching Objects Move: tables and figures of the notebook (W1 examples, W2 / W3 transfer curves)."""
from __future__ import annotations

import numpy as np

from .. import plots
from ..motion.unlc import final_mask, flow_farneback

METHOD_LABEL = {"motion": "motion (uNLC masks)", "rotation": "rotation prediction", "random": "random init",
                "true_masks": "true masks (upper bound)"}


def _mean_std(vals):
    vals = np.asarray(vals, float)
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")


def transfer_table(rows: list, *, freeze: int | None = None, fraction: float | None = None) -> list:
    """Accuracy mean / std over seeds per (method, fraction, freeze), filtered by freeze or fraction."""
    keys = sorted({(r["fraction"], r["freeze"], r["method"]) for r in rows
                   if (freeze is None or r["freeze"] == freeze) and (fraction is None or r["fraction"] == fraction)})
    out = []
    for frac, frz, m in keys:
        rs = [r for r in rows if (r["fraction"], r["freeze"], r["method"]) == (frac, frz, m)]
        mu, sd = _mean_std([r["acc"] for r in rs])
        out.append({"method": METHOD_LABEL.get(m, m), "label fraction %": 100 * frac, "labelled images":
                    rs[0]["n_labelled"], "trunk parts frozen": frz, "acc % (mean)": 100 * mu,
                    "acc % (seed std)": 100 * sd, "seeds": len(rs)})
    return out


def plot_transfer(rows: list, cfg):
    """Left: accuracy vs label fraction (all layers fine-tuned). Right: accuracy vs frozen trunk parts."""
    fig, (a1, a2) = plots.subplots(1, 2, width=4.2, height=3.2)
    for m in cfg.methods:
        for ax, key, sel in ((a1, "fraction", lambda r: r["freeze"] == 0),
                             (a2, "freeze", lambda r: r["fraction"] == cfg.freeze_fraction)):
            rs = [r for r in rows if r["method"] == m and sel(r)]
            xs = sorted({r[key] for r in rs})
            if not xs:
                continue
            stats = [_mean_std([r["acc"] for r in rs if r[key] == x]) for x in xs]
            mu = np.array([s[0] for s in stats]) * 100
            sd = np.nan_to_num(np.array([s[1] for s in stats]) * 100)
            xx = np.array(xs, float) * (100 if key == "fraction" else 1)
            ax.errorbar(xx, mu, yerr=sd, marker="o", capsize=3, label=METHOD_LABEL.get(m, m))
    a1.set_xscale("log")
    a1.set_xlabel("labelled images (% of the training set)")
    a1.set_ylabel("test accuracy %")
    a1.set_title("W3: transfer vs amount of labels")
    a2.set_xlabel("trunk parts frozen (stem, s1, s2, ...)")
    a2.set_title(f"W2: transfer vs frozen layers ({100 * cfg.freeze_fraction:g} % labels)")
    a1.axhline(100 / cfg.num_classes, color="grey", lw=0.8, ls=":")
    a2.axhline(100 / cfg.num_classes, color="grey", lw=0.8, ls=":")
    a1.legend()
    return fig


def plot_examples(clips: list, soft: list, n: int):
    """Rows = clips (static-camera ones first, then panning): frame, flow magnitude, soft votes, uNLC mask,
    true mask (when known)."""
    import cv2

    order = sorted(range(len(clips)), key=lambda i: clips[i]["pan"] > 0)
    pick = [i for i in order if clips[i]["pan"] == 0][: (n + 1) // 2] + [i for i in order if clips[i]["pan"] > 0][: n // 2]
    pick = (pick + [i for i in order if i not in pick])[:n]
    cols = ["frame", "flow magnitude (t -> t+1)", "uNLC soft votes", "uNLC mask (>= 0.7)", "true mask (hidden)"]
    fig, axes = plots.subplots(len(pick), len(cols), width=1.6, height=1.6, squeeze=False)
    for r, i in enumerate(pick):
        c, s = clips[i], soft[i]
        t = len(c["frames"]) // 2
        g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in c["frames"][t:t + 2])
        fl = flow_farneback(g0, g1)
        imgs = [c["frames"][t], np.hypot(fl[..., 0], fl[..., 1]), s[t], final_mask(s[t]),
                c["masks"][t] if c["masks"] is not None else np.zeros_like(s[t])]
        for k, (ax, im) in enumerate(zip(axes[r], imgs)):
            ax.imshow(im, cmap=None if k == 0 else "magma", vmin=None if k in (0, 1) else 0,
                      vmax=None if k in (0, 1) else 1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(cols[k], fontsize=7)
        axes[r][0].set_ylabel(f"{c['name']}\n{'pan' if c['pan'] > 0 else 'static cam'}", fontsize=7)
    return fig


def plot_pretrain_losses(pre: dict):
    fig, ax = plots.subplots(1, 1, width=4.2, height=3.0)
    for (m, s), r in sorted(pre.items()):
        if r["loss"]:
            ax.plot(range(1, len(r["loss"]) + 1), r["loss"], marker="o", label=f"{m} seed {s}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("pretext training loss")
    ax.legend()
    return fig


def w5_table(rows5: list) -> list:
    """W5: transfer accuracy (smallest label fraction, all layers fine-tuned) per fraction of pre-training video."""
    out = []
    for vf in sorted({r["video_fraction"] for r in rows5}):
        rs = [r for r in rows5 if r["video_fraction"] == vf]
        mu, sd = _mean_std([r["acc"] for r in rs])
        out.append({"pre-training video %": 100 * vf, "clips": rs[0]["n_clips"], "label fraction %":
                    100 * rs[0]["fraction"], "acc % (mean)": 100 * mu, "acc % (seed std)": 100 * sd, "seeds": len(rs)})
    return out
