"""The record of one notebook run: tables, figures, metrics, computed claims and provenance.

    run = Run("01_resnext", profile=profile, seed=seed, device=device, data_root=data_root,
              overrides=overrides, out_dir=out_dir)
    cfg = run.cfg
    run.table("table3", rows)            # -> table3.md + table3.csv
    run.figure("fig5", fig)              # -> fig5.png + fig5.pdf (no volatile metadata: byte-stable)
    run.metric("val_err", 0.21)
    run.claim("C1", "...", verdict, paper={...}, trained=True)
    run.finalize()                       # -> results.json; fails if an artifact is missing

Results go to ``<out_dir>/<slug>/``; by default ``figures/`` for the ``default`` profile and
``runs/<profile>/figures/`` for the others; the ``ci`` profile never writes into ``figures/``.
A run writes into its own staging folder and finalize() swaps it into ``<out_dir>/<slug>/`` in one
step (see :mod:`paperlib.staging`): a run that fails before finalize() leaves the last good outputs
untouched.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any


from . import REPO_ROOT
from .config import PAPERS, PROFILES, get_config, resolve_slug, shift_seeds
from .metrics.stats import Verdict
from .jsonio import to_jsonable as _jsonable
from .paths import check_data_root, default_out_dir
from .staging import Output
from .versions import PACKAGES
from .versions import versions as _versions

LIBRARIES = ("python",) + PACKAGES

#: data folders used by this process ("name/key" -> {"hash", "path"}); filled by paperlib.data.common
from .data.common import DATA_USED  # noqa: E402  (the registry lives in data, below record)




def versions() -> dict[str, str]:
    """python and library versions (one implementation: paperlib.versions)."""
    return _versions()


def git_state(root: Path = REPO_ROOT) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--", "paperlib", "notebooks"], cwd=root,
                                capture_output=True, text=True, timeout=10).stdout
        return {"git_commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "dirty": None}


def canonical_json(obj) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"))


def param_hash(params: dict) -> str:
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()[:16]


def resolve_device(device: str = "auto"):
    """The engine's resolve_device (one implementation), kept under this name for notebooks."""
    from .engine.loop import resolve_device as _resolve

    return _resolve(device)


def seed_all(seed: int) -> None:
    """The engine's seed_everything (one implementation), kept under this name."""
    from .engine.data import seed_everything

    seed_everything(seed)


class Run:
    """One execution of a paper notebook. See the module docstring."""

    def __init__(self, slug: str, *, profile: str = "default", seed: int = 0, device: str = "auto",
                 data_root: str | None = None, overrides: dict | None = None, out_dir: str | None = None):
        self.t0 = time.time()
        self.slug = resolve_slug(slug)
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
        self.profile = profile
        self.seed = int(seed)
        self.overrides = dict(overrides or {})
        # the notebook's seed shifts every training seed of the config, here and nowhere else
        self.cfg = shift_seeds(get_config(self.slug, profile, self.overrides), self.seed)
        self.spec = PAPERS[self.slug]
        self.data_root = check_data_root(data_root, self.cfg)
        self.device = resolve_device(device)
        base = Path(out_dir).expanduser() if out_dir else default_out_dir(profile)
        if not base.is_absolute():
            base = (Path.cwd() / base).resolve()
        if profile == "ci" and _inside(base, REPO_ROOT / "figures"):
            raise ValueError("the ci profile never writes into figures/; pass another out_dir")
        # write into a private staging folder; finalize() swaps it into base/slug in one step
        self.output = Output(base, self.slug) if int(os.environ.get("RANK", "0")) == 0 else None
        self.out = self.output.dir if self.output else base / self.slug
        self.params = {"profile": profile, "seed": self.seed, "device": device,
                       "data_root": str(self.data_root) if self.data_root else None,
                       "overrides": self.overrides}
        self.metrics: dict[str, Any] = {}
        self.claims: list[dict] = []
        self.artifacts: list[str] = []
        self.notes: list[str] = []
        # under torchrun every rank executes the notebook; only rank 0 writes results
        self.rank = int(os.environ.get("RANK", "0"))
        seed_all(self.seed)
        print(f"[paperlib] {self.slug} profile={profile} seed={self.seed} device={self.device} -> {self.out}")

    # ------------------------------------------------------------------ outputs
    def _artifact(self, name: str) -> Path:
        if name not in self.artifacts:
            self.artifacts.append(name)
        return self.out / name

    def table(self, name: str, rows, caption: str | None = None, floatfmt: str = ".4g"):
        """Write a table as Markdown and CSV; rows = DataFrame or list of dicts. Returns the DataFrame."""
        import pandas as pd

        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        md = _markdown(df, floatfmt)
        if caption:
            md = f"{caption}\n\n{md}"
        if self.rank == 0:
            df.to_csv(self._artifact(f"{name}.csv"), index=False, lineterminator="\n")
            self._artifact(f"{name}.md").write_text(md + "\n")
        return df

    def figure(self, name: str, fig, close: bool = False):
        """Save a matplotlib figure as PNG and as vector PDF beside it (fixed dpi, no volatile metadata,
        so an unchanged figure keeps the same bytes). Returns the figure for display."""
        from .plots import save_png

        if self.rank == 0:
            save_png(fig, self._artifact(f"{name}.png"))
            save_pdf(fig, self._artifact(f"{name}.pdf"))
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
        return fig

    def metric(self, key: str, value) -> None:
        self.metrics[key] = _jsonable(value)

    def note(self, text: str) -> None:
        """A plain-language remark carried into results.json and the report (e.g. what a profile cannot show)."""
        self.notes.append(text)

    def claim(self, claim_id: str, statement: str, verdict: Verdict, *, paper: dict | None = None,
              evidence: dict | None = None, trained: bool = True) -> dict:
        """Record a claim with its computed verdict. At profile ci a trained claim is 'inconclusive (ci)'."""
        if not isinstance(verdict, Verdict):
            raise TypeError("verdict must be a Verdict computed by paperlib.metrics.stats, not "
                            f"{type(verdict).__name__}")
        v, reason = verdict.verdict, verdict.reason
        if self.profile == "ci" and trained:
            v, reason = "inconclusive", f"ci: pipeline only (the run said: {verdict.verdict}, {verdict.reason})"
        entry = {"id": claim_id, "statement": statement, "verdict": v, "reason": reason,
                 "evidence": _jsonable({**verdict.evidence, **(evidence or {})}),
                 "paper": _jsonable(paper or {})}
        self.claims = [c for c in self.claims if c["id"] != claim_id] + [entry]
        print(f"[claim {claim_id}] {v}: {reason}")
        return entry

    # ------------------------------------------------------------------ finish
    def provenance(self) -> dict:
        return {**git_state(), "versions": versions(), "device": str(self.device),
                "device_name": _device_name(self.device), "profile": self.profile,
                "parameters": _jsonable(self.params), "config": _jsonable(self.cfg),
                "param_hash": param_hash(self.params), "seed": self.seed,
                "wall_seconds": round(time.time() - self.t0, 1), "data": dict(DATA_USED),
                "date": time.strftime("%Y-%m-%d", time.gmtime()),
                "platform": platform.platform(), "threads": _threads(), "numerics": _numerics()}

    def finalize(self) -> Path | None:
        """Write results.json (with every training divergence the engine warned about in this process) and
        swap the staging folder into <out>/<slug>/."""
        if self.rank != 0:
            return None
        missing = [a for a in self.artifacts if not (self.out / a).exists()]
        if missing:
            raise FileNotFoundError(f"declared artifacts missing in {self.out}: {missing}")
        if not self.claims:
            raise ValueError(f"{self.slug}: no claims recorded; every notebook tests its paper's claims")
        result = {"paper": self.slug, "title": self.spec.title, "profile": self.profile,
                  "metrics": _jsonable(self.metrics), "claims": self.claims,
                  "artifacts": sorted(self.artifacts), "notes": self.notes,
                  "training_divergence": _jsonable(_diverged_runs()),
                  "provenance": self.provenance()}
        # the staging folder is this run's own: no other process writes results.json there
        (self.out / "results.json").write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
        self.out = self.output.publish()
        path = self.out / "results.json"
        counts = {k: sum(c["verdict"] == k for c in self.claims) for k in ("held", "not held", "inconclusive")}
        print(f"[paperlib] wrote {path} ({len(self.artifacts)} artifacts; claims {counts})")
        return path


def save_pdf(fig, path) -> None:
    """Vector PDF without volatile metadata (no creation date, no producer version): byte-stable."""
    fig.savefig(path, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})


def _inside(p: Path, root: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine()


def _numerics() -> dict:
    """The CPU kernel selection that fixes a run's last bits (README, "Determinism"): two results.json
    files whose numbers differ can be told apart by machine here."""
    from .engine.runtime import numerics_fingerprint

    return numerics_fingerprint()


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _markdown(df, floatfmt: str) -> str:
    cols = [str(c) for c in df.columns]

    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def load_results(path) -> dict:
    return json.loads(Path(path).read_text())


def _diverged_runs() -> list:
    """The engine's divergence warnings of this process (imported lazily: record must stay torch-light)."""
    import sys

    loop = sys.modules.get("paperlib.engine.loop")
    return list(getattr(loop, "DIVERGED_RUNS", []))
