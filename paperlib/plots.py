"""One matplotlib style for every figure, byte-stable PNG saving, and the panoptic colouring that 04 and 06
share."""
from __future__ import annotations

import matplotlib


import matplotlib.pyplot as plt  # noqa: E402

DPI = 120
# colour-blind-safe cycle (Okabe-Ito)
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "lines.linewidth": 1.6,
    "svg.hashsalt": "paperlib",
}


def use_style() -> None:
    matplotlib.rcParams.update(STYLE)


def subplots(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.0, **kw):
    """plt.subplots in the project style; size is per panel, in inches."""
    use_style()
    kw.setdefault("squeeze", True)
    kw.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kw)


def save_png(fig, path) -> None:
    """Save with fixed dpi and no volatile metadata, so an unchanged figure keeps the same bytes."""
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})



def panoptic_colour(ids, segments, palette=None):
    """RGB (uint8) of a panoptic id map coloured by *category*: every segment of one category gets the same
    colour, whatever its segment id, so a ground-truth panel and a prediction panel can be compared; boundaries
    between segments are drawn dark (two touching instances of one category stay apart); VOID (id 0 or any id
    without a segment) is black. ``palette``: {category id: (r, g, b)}; None = a fixed seeded colour per id."""
    import numpy as np

    ids = np.asarray(ids).astype(np.int64)
    cats = {int(s["id"]): int(s["category_id"]) for s in segments}
    if palette is None:
        lut = np.random.default_rng(1).integers(60, 255, size=(max(list(cats.values()) + [0]) + 1, 3))
        palette = {c: lut[c] for c in cats.values()}
    out = np.zeros(ids.shape + (3,), np.uint8)
    for sid, cat in cats.items():
        out[ids == sid] = np.asarray(palette[cat], float).astype(np.uint8)
    edge = np.zeros(ids.shape, bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    dark = edge & (ids != 0)
    out[dark] = (out[dark] * 0.35).astype(np.uint8)
    return out


use_style()
