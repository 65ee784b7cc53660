"""Where things live. Import-light (no numpy/torch) so the runner can use it before any kernel starts."""
from __future__ import annotations

import os
from pathlib import Path

from . import REPO_ROOT


def data_home() -> Path:
    """Generated data: $PAPERLIB_DATA, else $XDG_CACHE_HOME/paperlib, else ~/.cache/paperlib."""
    env = os.environ.get("PAPERLIB_DATA")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperlib"


def default_out_dir(profile: str, root: Path = REPO_ROOT) -> Path:
    """figures/ for the default profile, runs/<profile>/figures/ for the others."""
    return root / "figures" if profile == "default" else root / "runs" / profile / "figures"
