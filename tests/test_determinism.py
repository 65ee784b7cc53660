"""Determinism (README, "Determinism"): a rerun in one process, or in a fresh one, gives bit-identical
numbers at a fixed thread count; the thread count itself changes them, so profiles fix it."""
import random
import subprocess
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from paperlib.engine import TrainConfig, make_loader, train
from paperlib.engine.runtime import numerics_fingerprint, setup_threads

_SCRIPT = """
import json, sys, torch
sys.path.insert(0, {root!r})
from tests.test_determinism import short_training
print(json.dumps(short_training(int(sys.argv[1]))))
"""


def _data(n=32):
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 3, 8, 8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return TensorDataset(x, y)


def short_training(threads: int = 1, seed: int = 0) -> list:
    """A few SGD steps of a small conv net with BN through the engine (shuffled seeded loader, the
    default classification step and evaluation); returns the per-epoch history numbers and a weight
    checksum as exact floats."""
    old = torch.get_num_threads()
    setup_threads(threads, "cpu")
    try:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                              nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.BatchNorm2d(16), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
        ds = _data()
        hist = train(model, make_loader(ds, 8, shuffle=True, seed=seed, drop_last=True),
                     TrainConfig(epochs=2, lr=0.1, seed=seed, warmup_epochs=0.0),
                     device="cpu", val_loader=make_loader(ds, 16), progress="off")
        w = float(sum(p.detach().double().sum() for p in model.parameters()))
        return [hist["train_loss"], hist["val_err"], w]
    finally:
        torch.set_num_threads(old)


def test_rerun_in_process_is_bit_identical_whatever_the_rng_state():
    a = short_training(1)
    # a notebook runs other cells in between: unrelated draws from every global RNG
    torch.rand(7), np.random.rand(3), random.random()
    b = short_training(1)
    assert a == b


def test_fresh_process_gives_the_same_bits(tmp_path):
    """What a rerun of a notebook (a new kernel) or a sweep worker does."""
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(root=root), "1"], capture_output=True, text=True,
                         timeout=120, check=True)
    import json
    assert json.loads(out.stdout.strip().splitlines()[-1]) == short_training(1)


def test_numerics_fingerprint_names_what_selects_the_kernels():
    fp = numerics_fingerprint()
    assert set(fp) >= {"threads", "cpu_capability", "cpu_model", "onednn", "mkl", "torch"}
    assert fp["threads"] == torch.get_num_threads()
    assert isinstance(fp["cpu_capability"], str) and fp["cpu_capability"]
    assert fp["torch"] == torch.__version__


def test_every_default_profile_fixes_its_cpu_thread_count():
    """The thread count is part of a CPU run's numbers, so `default` (what figures/ holds) must fix it:
    a `threads` / `torch_threads` field > 0, or training only in sweep jobs (pinned by paperlib.sweep)."""
    from paperlib.config import PAPERS, get_config
    loose = []
    for slug in PAPERS:
        cfg = get_config(slug, "default")
        field = next((f for f in ("threads", "torch_threads") if hasattr(cfg, f)), None)
        if field is None:
            if not hasattr(cfg, "backend"):            # no thread field and no sweep: nothing pins it
                loose.append(f"{slug}: no threads field")
        elif not getattr(cfg, field) or getattr(cfg, field) < 1:
            loose.append(f"{slug}: {field}={getattr(cfg, field)!r}")
    assert not loose, "default profiles whose numbers depend on the core count: " + "; ".join(loose)
