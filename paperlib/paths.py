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


#: dataset values whose data the library generates (never read from data_root): 01/03/07/08/09/10's
#: "synthetic" images and 02/04/05's "scenes" (embedded COCO-format scenes)
GENERATED_DATASETS = ("synthetic", "scenes")
#: config fields naming a file that a relative path finds under data_root (02's ImageNet-pre-trained
#: backbone, 05's pre-trained trunk): with one of them set, data_root is read even for generated data
DATA_ROOT_FILE_FIELDS = ("backbone_weights", "pretrain_weights")


def check_data_root(data_root, cfg=None, where: str = "data_root") -> Path | None:
    """The resolved data_root, or ValueError: a folder that does not exist, or a data_root given to a
    config whose ``dataset`` is generated ("synthetic", "scenes": it would be ignored) -- unless a field of
    :data:`DATA_ROOT_FILE_FIELDS` names a relative file, which is looked up under data_root."""
    if data_root in (None, ""):
        return None
    path = Path(str(data_root)).expanduser().resolve()
    dataset = getattr(cfg, "dataset", None)
    files = [f for f in DATA_ROOT_FILE_FIELDS if getattr(cfg, f, None) and not os.path.isabs(str(getattr(cfg, f)))]
    if dataset in GENERATED_DATASETS and not files:
        reads = " or ".join(DATA_ROOT_FILE_FIELDS)
        raise ValueError(f"{where}={str(data_root)!r} was given but the config's dataset is {dataset!r} "
                         f"(generated data; data_root would be ignored): drop data_root, set the dataset "
                         f"to a real one (e.g. -o dataset=cifar10, or dataset=coco for scenes), or name a "
                         f"file under it ({reads}) where the config has one")
    if not path.is_dir():
        raise ValueError(f"{where}={str(data_root)!r}: folder {path} does not exist; expected the folder "
                         "holding the dataset in its real layout (see docs/CONTRACT.md, Data)")
    return path
