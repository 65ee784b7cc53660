"""The one place that reads library versions (for provenance and the runner's cache key).

Import-light: versions come from :mod:`importlib.metadata`, no package is imported."""
from __future__ import annotations

import platform
from importlib import metadata

#: packages whose versions are recorded in provenance and enter the runner's cache key
PACKAGES = ("torch", "torchvision", "timm", "numpy", "pycocotools", "lvis", "papermill", "matplotlib")


def versions(python: bool = True) -> dict:
    """{"python": "3.x.y", "torch": "2.14.1", ...}; None for a package that is not installed."""
    out = {"python": platform.python_version()} if python else {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
