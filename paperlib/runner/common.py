"""What every part of the runner shares: locations (Layout), constants, small helpers.

Import-light: no torch, numpy or papermill."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import REPO_ROOT
from ..config import ConfigError
from ..versions import PACKAGES

#: packages whose versions enter the cache key (read with importlib.metadata, never imported)
VERSION_PACKAGES = PACKAGES
#: parameters a user may set with ``-p`` (profile has --profile, out_dir has --out)
CLI_PARAMS = ("seed", "device", "data_root", "overrides")
DEFAULT_PARAMS = {"seed": 0, "device": "auto", "data_root": None, "overrides": {}}
KERNEL_NAME = "python3"
KERNEL_START_TIMEOUT = 120
VERDICTS = ("held", "not held", "inconclusive")


class UsageError(ConfigError):
    """Refused before any kernel starts (exit code 2)."""


# --------------------------------------------------------------------------------------------
# locations


@dataclass
class Layout:
    """Where notebooks, runs, figures and the library live (tests point these at tmp dirs)."""

    root: Path = REPO_ROOT
    notebooks_dir: Path | None = None
    runs_dir: Path | None = None
    figures_dir: Path | None = None
    lib_dir: Path | None = None

    def __post_init__(self):
        self.root = Path(self.root)
        self.notebooks_dir = Path(self.notebooks_dir or self.root / "notebooks")
        self.runs_dir = Path(self.runs_dir or self.root / "runs")
        self.figures_dir = Path(self.figures_dir or self.root / "figures")
        self.lib_dir = Path(self.lib_dir or Path(__file__).resolve().parents[1])

    def notebook(self, slug: str) -> Path:
        return self.notebooks_dir / f"{slug}.ipynb"

    def executed(self, profile: str, slug: str) -> Path:
        return self.runs_dir / profile / f"{slug}.ipynb"

    def cache_file(self, profile: str, slug: str) -> Path:
        return self.runs_dir / profile / ".cache" / f"{slug}.json"

    def default_out(self, profile: str) -> Path:
        # paperlib.paths.default_out_dir's rule, for this (possibly relocated, in tests) layout
        return self.figures_dir if profile == "default" else self.runs_dir / profile / "figures"


def _rel(path: Path | str) -> str:
    path = Path(path)
    try:
        return os.path.relpath(path)
    except ValueError:  # other drive (windows)
        return str(path)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _registry(papers=None) -> dict:
    if papers is None:
        from ..config import PAPERS

        papers = PAPERS
    return papers


def _load_nb(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None



def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents



def write_json(path: Path, obj: Any) -> None:
    """Atomic write with a temp name unique to this process and call (two writers never share it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
