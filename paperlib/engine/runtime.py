"""Process setup every experiment shares: torch's CPU threads for the run's device.

    from paperlib.engine.runtime import setup_threads
    threads = setup_threads(cfg.threads, run.device)      # -> the thread count now in effect

One place for the rule that used to live in each paper's module: a positive ``threads`` sets torch's
intra-op threads when the run computes on the CPU (one thread keeps timings stable and avoids
oversubscription when notebooks share a few cores); 0 or None leaves torch's default; on an
accelerator the CPU thread count is left alone (the device does the work, data loading has its own
workers).

Determinism (README, "Determinism"): on a CPU the thread count is part of the result. ATen's
reductions, BatchNorm and oneDNN / MKL convolutions and matmuls split their sums by thread, so the
same training at 1 and at 2 threads ends with different weights (the last bits first, then whole
points of error after a few epochs). A ``ci`` / ``default`` profile therefore fixes ``threads``
(> 0); 0 / None -- torch's default, the machine's core count -- makes the numbers depend on the
machine. Across machines the kernels themselves differ: :func:`numerics_fingerprint` names what
selects them (ATen's vector ISA, oneDNN / MKL versions), so two runs can be told apart.
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["setup_threads", "numerics_fingerprint"]


def setup_threads(threads: Optional[int], device="cpu") -> int:
    """Set torch's CPU threads to ``threads`` (> 0) when ``device`` is a CPU; return torch's count."""
    if threads is not None and int(threads) < 0:
        raise ValueError(f"threads = {threads}: expected an integer >= 0 (0 or None = torch's default)")
    if threads and torch.device(device).type == "cpu":
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def numerics_fingerprint() -> dict:
    """What fixes a CPU run's floating-point results besides the code, data and seed: the intra-op
    thread count, ATen's vector instruction set (``torch.backends.cpu.get_cpu_capability()``, e.g.
    AVX512 / AVX2: reductions, BatchNorm, element-wise kernels), the oneDNN and MKL builds (convolutions,
    matmuls; they dispatch on the CPU's ISA as well), and the CPU model. Two runs with equal fingerprints
    on the same code give bit-identical numbers (README, "Determinism"); a different fingerprint explains
    a difference in the last bits that training then amplifies."""
    import platform

    cap = None
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover - older torch
        pass
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    import re

    build = torch.__config__.show()
    onednn = re.search(r"MKL-DNN v([\w.]+)", build)
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", build)
    return {"threads": torch.get_num_threads(), "cpu_capability": cap, "cpu_model": model,
            "onednn": onednn.group(1) if onednn else None, "mkl": mkl.group(1) if mkl else None,
            "torch": torch.__version__}
