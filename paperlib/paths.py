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


def check_data_root(data_root, cfg=None, where: str = "data_root") -> Path | None:
    """The resolved data_root, or ValueError: a folder that does not exist, or a data_root given to a
    config whose ``dataset`` is "synthetic" (generated data never reads it, so it would be ignored)."""
    if data_root in (None, ""):
        return None
    path = Path(str(data_root)).expanduser().resolve()
    dataset = getattr(cfg, "dataset", None)
    if dataset == "synthetic":
        raise ValueError(f"{where}={str(data_root)!r} was given but the config's dataset is 'synthetic' "
                         "(generated data; data_root would be ignored): drop data_root, or set the dataset "
                         "to a real one (e.g. -o dataset=cifar10)")
    if not path.is_dir():
        raise ValueError(f"{where}={str(data_root)!r}: folder {path} does not exist; expected the folder "
                         "holding the dataset in its real layout (see docs/CONTRACT.md, Data)")
    return path
