"""Process setup every experiment shares: torch's CPU threads for the run's device.

    from paperlib.engine.runtime import setup_threads
    threads = setup_threads(cfg.threads, run.device)      # -> the thread count now in effect

One place for the rule that used to live in each paper's module: a positive ``threads`` sets torch's
intra-op threads when the run computes on the CPU (one thread keeps timings stable and avoids
oversubscription when notebooks share a few cores); 0 or None leaves torch's default; on an
accelerator the CPU thread count is left alone (the device does the work, data loading has its own
workers).
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["setup_threads"]


def setup_threads(threads: Optional[int], device="cpu") -> int:
    """Set torch's CPU threads to ``threads`` (> 0) when ``device`` is a CPU; return torch's count."""
    if threads is not None and int(threads) < 0:
        raise ValueError(f"threads = {threads}: expected an integer >= 0 (0 or None = torch's default)")
    if threads and torch.device(device).type == "cpu":
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()
