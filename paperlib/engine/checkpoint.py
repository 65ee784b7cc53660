"""Atomic checkpoints and RNG-state capture for bit-exact resume."""
from __future__ import annotations

import os
import pickle
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def rng_state(loader=None) -> dict:
    """Every RNG the loop depends on: torch (CPU, CUDA), numpy, python, the loader generator."""
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = torch.cuda.get_rng_state_all()
    gen = getattr(loader, "generator", None) if loader is not None else None
    if gen is not None:
        st["loader"] = gen.get_state()
    return st


def set_rng_state(st: dict, loader=None) -> None:
    torch.set_rng_state(st["torch"].cpu() if hasattr(st["torch"], "cpu") else st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        states = st["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in states])
    gen = getattr(loader, "generator", None) if loader is not None else None
    if gen is not None and "loader" in st:
        gen.set_state(st["loader"].cpu())


def save_atomic(obj, path) -> None:
    """torch.save to a temporary file in the same folder, then os.replace (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (truncated, corrupt, not a torch checkpoint)."""


def load_checkpoint(path, map_location="cpu") -> dict:
    """torch.load a checkpoint; a missing, truncated or corrupt file raises :class:`CheckpointError` naming
    it (torch itself says e.g. ``OSError: [Errno 22] Invalid argument`` or an internal miniz error)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
        size = path.stat().st_size if path.exists() else 0
        raise CheckpointError(
            f"checkpoint {path} ({size} bytes) cannot be read: truncated or corrupt ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:120] if str(e) else ''}). paperlib writes checkpoints atomically, so this "
            "file was damaged or written by something else: delete it to train from scratch "
            "(or pass resume=False).") from e
