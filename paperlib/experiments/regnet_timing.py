"""08 RegNet notebook section 5: complexity vs runtime (Fig 12 analogue) on the run's device, and the
RegNetY vs EfficientNet timing of Table 4 (where the profile lists ``effnet_pairs``).

Split out of :mod:`paperlib.experiments.regnet_report` (which re-exports every name) to keep each module
small; the timed code itself is :func:`paperlib.experiments.regnet.forward_timing` /
:func:`~paperlib.experiments.regnet.effnet_pair_timing`. Paper notes: ``docs/papers/08_regnet.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import regnet as ex

FAMILIES = ("regnetx", "regnety")


# ----------------------------------------------------------------------------- 5 timing
@dataclass
class TimingSection:
    table: Any                      # fig12_timing (forward_timing rows + ms)
    pearson_r: Dict[str, float]     # r(time, flops|params|acts)
    slopes: Dict[str, dict]         # family -> {acts, params}: log-log slope vs flops (s, lo, hi)
    threads: Optional[int]          # CPU intra-op threads (None when timed on CUDA)
    caption: str
    fig: Any
    device: str = "cpu"             # the device the timing actually ran on: "cpu" | "cuda:<i>"
    device_name: Optional[str] = None   # the GPU's name when timed on CUDA

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def device_label(self) -> str:
        """"cpu", or "cuda (<GPU name>)"."""
        return f"{self.device_type} ({self.device_name})" if self.device_name else self.device_type


def timing_analysis(tim, all24, seed: int = 0):
    """(pearson r of time with flops / params / acts, log-log slopes of acts and params vs flops per
    family over the 24 models)."""
    rs = {k: ex.pearson(tim.seconds, tim[k]) for k in ("flops", "params", "acts")}
    slopes = {fam: {k: ex.loglog_slope(all24[all24.model.str.startswith(fam)].flops,
                                       all24[all24.model.str.startswith(fam)][k], seed=seed)
                    for k in ("acts", "params")} for fam in FAMILIES}
    return rs, slopes


def timing_caption(cfg, device_type: str, threads: Optional[int], rs: Dict[str, float],
                   device_name: Optional[str] = None) -> str:
    """Caption of fig12_timing; ``device_type`` is the device the timing ran on ("cpu" | "cuda")."""
    if device_type == "cpu":
        where = f"cpu, batch {cfg.timing_batch}, {cfg.timing_image_size} px, {threads} thread(s)"
    else:
        where = (f"{device_type}{f' {device_name}' if device_name else ''}, batch {cfg.timing_batch}, "
                 f"{cfg.timing_image_size} px, synchronized, median of {cfg.timing_reps}")
    return f"Forward time ({where}); Pearson r with time: " + ", ".join(f"{k} {v:.3f}" for k, v in rs.items())


def timing_figure(tim, all24, rs: Dict[str, float]):
    """Forward ms vs flops / params / acts, and acts / params vs flops of the 24 models (log-log)."""
    from ..plots import subplots
    fig, axs = subplots(1, 4, width=3.0, height=2.6)
    for ax, k in zip(axs[:3], ("flops", "params", "acts")):
        for fam in FAMILIES:
            sub = tim[tim.model.str.startswith(fam)]
            ax.scatter(sub[k] / 1e6, sub.ms, s=14, label=fam)
        ax.set_xlabel(f"{k} (M)"); ax.set_ylabel("forward ms"); ax.set_title(f"r = {rs[k]:.3f}")
    axs[0].legend()
    for fam in FAMILIES:
        sub = all24[all24.model.str.startswith(fam)]
        axs[3].loglog(sub.flops / 1e9, sub.acts / 1e6, "o-", ms=3, label=f"{fam} acts")
        axs[3].loglog(sub.flops / 1e9, sub.params / 1e6, "s--", ms=3, label=f"{fam} params")
    axs[3].set_xlabel("GF"); axs[3].set_ylabel("M"); axs[3].legend(fontsize=6)
    axs[3].set_title("24 models: acts, params vs flops")
    return fig


def timing_section(cfg, all24, device="cpu", seed: int = 0, tim=None) -> TimingSection:
    """Fig 12 analogue: forward timing of ``cfg.timing_models`` on ``device`` (the run's device: "cpu",
    "cuda[:i]", "auto" or a torch.device; CUDA where none is available raises), or a given timing
    DataFrame ``tim``; its correlations and the complexity slopes. The caption, and through the
    section the claim and the notes, carry the device the rows say they were timed on (a given ``tim``
    without a ``device`` column is taken to be from ``device``)."""
    import pandas as pd
    import torch
    threads = cfg.timing_threads or torch.get_num_threads()
    if tim is None:
        tim = pd.DataFrame(ex.forward_timing(cfg.timing_models, batch=cfg.timing_batch,
                                             image_size=cfg.timing_image_size, threads=threads,
                                             reps=cfg.timing_reps, device=device))
    tim = tim.drop(columns=[c for c in ("rep_seconds", "image_size", "mode") if c in tim])
    tim["ms"] = 1000 * tim.seconds
    used = sorted(set(map(str, tim["device"]))) if "device" in tim else [str(getattr(device, "type", device))]
    if len(used) != 1:
        raise ValueError(f"timing rows come from several devices {used}; time every model on one device")
    dev = used[0]
    names = sorted(set(tim["device_name"].dropna())) if "device_name" in tim else []
    name = ", ".join(names) or None
    if dev.startswith("cuda"):
        threads = None
    rs, slopes = timing_analysis(tim, all24, seed=seed)
    return TimingSection(tim, rs, slopes, threads, timing_caption(cfg, dev.split(":")[0], threads, rs, name),
                         timing_figure(tim, all24, rs), device=dev, device_name=name)


# ----------------------------------------------------------------------------- 5b Table 4 timing
#: the spec's reference for "RegNetY faster than EfficientNet at equal flops": a time ratio of about
#: 1.5x or more (pycls: EfficientNet-B0 / RegNetY-400MF training time 1.66x; the paper's Table 4 inference
#: ratios run from 1.8x for B0 to 4.5x for B5)
EFFNET_MIN_SPEEDUP = 1.5
PYCLS_B0_TRAIN_RATIO = 1.66
#: columns of the table4_effnet_timing artifact
EFFNET_COLUMNS = ["pair", "mode", "batch", "effnet_px", "effnet_GF", "effnet_params_M", "effnet_acts_M",
                  "effnet_ms", "regnety_px", "regnety_GF", "regnety_params_M", "regnety_acts_M", "regnety_ms",
                  "ratio", "ratio_lo", "ratio_hi", "paper_ratio", "device", "note"]


@dataclass
class EffnetSection:
    rows: List[dict]                # effnet_pair_timing rows (per-pass seconds included)
    table: Any                      # table4_effnet_timing (EFFNET_COLUMNS)
    device: str                     # where the pairs were timed: "cpu" | "cuda:<i>"
    device_name: Optional[str]
    caption: str
    verdict: Any                    # the C5 timing part (a stats.Verdict)

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def ratios(self) -> Dict[str, Dict[str, Optional[float]]]:
        """{mode: {pair: EfficientNet time / RegNetY time}} (None where a pair did not run)."""
        out: Dict[str, Dict[str, Optional[float]]] = {}
        for r in self.rows:
            v = r["ratio"]
            out.setdefault(r["mode"], {})[r["pair"]] = float(v) if v is not None and np.isfinite(v) else None
        return out


def effnet_table(rows: Sequence[dict]):
    """The table4_effnet_timing DataFrame of :func:`regnet.effnet_pair_timing` rows (GF / M units)."""
    import pandas as pd
    df = pd.DataFrame(list(rows))
    for side in ("effnet", "regnety"):
        for src, dst, unit in (("flops", "GF", 1e9), ("params", "params_M", 1e6), ("acts", "acts_M", 1e6)):
            df[f"{side}_{dst}"] = pd.to_numeric(df[f"{side}_{src}"], errors="coerce") / unit
    return df[EFFNET_COLUMNS]


def effnet_verdict(rows: Sequence[dict], device_type: str, min_speedup: float = EFFNET_MIN_SPEEDUP):
    """The C5 timing part ("RegNetY is faster than EfficientNet at similar flops on GPU").

    CPU rows: not tested (the claim is about GPUs), with the ratios as evidence. GPU rows: per pair and
    mode, :func:`stats.decide_diff` on log(EfficientNet time / RegNetY time) with its bootstrap interval
    over the timed passes, expecting "+" with the stated minimum log(``min_speedup``) (the spec's ~1.5x
    reference); the pairs combined (:func:`stats.combine`: held only if every pair is)."""
    from ..metrics import stats
    ratios = {f"{r['pair']} ({r['mode']})": r["ratio"] for r in rows}
    if not rows:
        return stats.not_tested("EfficientNet vs RegNetY timing not run")
    if device_type != "cuda":
        return stats.not_tested(f"EfficientNet vs RegNetY timed on {device_type.upper()}, not a GPU: the paper's "
                                f"speed claim (Table 4) is about GPUs -- not tested", device=device_type,
                                time_ratios=ratios)
    parts = []
    for r in rows:
        ev = dict(pair=r["pair"], mode=r["mode"], batch=r["batch"], ratio=r["ratio"],
                  ratio_ci95=[r["ratio_lo"], r["ratio_hi"]], paper_ratio=r["paper_ratio"])
        if r.get("note"):
            ev["note"] = r["note"]
        parts.append(stats.decide_diff(r["log_ratio"], r["log_ratio_lo"], r["log_ratio_hi"], expect="+",
                                       min_effect=float(np.log(min_speedup)), n=r.get("reps"), **ev))
    finite = [v for v in ratios.values() if v is not None and np.isfinite(v)]
    v = stats.combine(parts, time_ratios=ratios, max_ratio=max(finite) if finite else None,
                      min_speedup=min_speedup, device_name=rows[0].get("device_name"))
    return v


def effnet_caption(cfg, rows: Sequence[dict]) -> str:
    r0 = rows[0]
    where = r0["device"] + (f" {r0['device_name']}" if r0.get("device_name") else "")
    modes = sorted({(r["mode"], r["batch"]) for r in rows})
    return ("Table 4 timing analogue: timm EfficientNet-Bk (random init) at its own resolution vs the RegNetY at "
            f"similar flops at 224 px, on {where}; " + ", ".join(f"{m} batch {b}" for m, b in modes) +
            f"; median of {r0['reps']} passes (train = forward + backward, pycls's timing). ratio = EfficientNet "
            "time / RegNetY time (> 1: RegNetY faster), 95% bootstrap interval over passes; paper_ratio from the "
            "paper's V100 Table 4 (inference ms / training hours).")


def effnet_section(cfg, device="cpu", seed: int = 0, rows: Optional[Sequence[dict]] = None) -> Optional[EffnetSection]:
    """Table 4 timing analogue for ``cfg.effnet_pairs`` (read with getattr: absent or empty -> None, the
    section did not run), timed on ``device`` at ``cfg.timing_batch`` (inference) and
    ``cfg.effnet_train_batch`` (training step, 0 = off), ``cfg.timing_reps`` passes; or given ``rows``."""
    import torch
    pairs = cfg.effnet_pairs
    if rows is None:
        if not pairs:
            return None
        rows = ex.effnet_pair_timing(pairs, batch=cfg.timing_batch,
                                     train_batch=int(cfg.effnet_train_batch),
                                     reps=cfg.timing_reps, device=device,
                                     threads=cfg.timing_threads or torch.get_num_threads(),
                                     n_boot=cfg.n_boot, seed=seed)
    rows = list(rows)
    if not rows:
        return None
    used = sorted({r["device"] for r in rows})
    if len(used) != 1:
        raise ValueError(f"EfficientNet timing rows come from several devices {used}; time every pair on one device")
    dev = used[0]
    names = sorted({r["device_name"] for r in rows if r.get("device_name")})
    return EffnetSection(rows, effnet_table(rows), dev, ", ".join(names) or None, effnet_caption(cfg, rows),
                         effnet_verdict(rows, dev.split(":")[0]))
