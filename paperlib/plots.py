"""One matplotlib style for every figure, and byte-stable PNG saving."""
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


use_style()
