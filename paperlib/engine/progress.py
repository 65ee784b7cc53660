"""Progress that fits the place: a tqdm bar interactively, a plain line every N steps headless."""
from __future__ import annotations

import os
import sys
import time


def _in_jupyter_frontend() -> bool:
    try:
        from IPython import get_ipython  # noqa: WPS433
    except Exception:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def is_headless() -> bool:
    """Headless when papermill runs us (PAPERMILL_EXECUTION) or PAPERLIB_HEADLESS=1."""
    if os.environ.get("PAPERLIB_HEADLESS", "").strip() not in ("", "0", "false", "False"):
        return True
    return bool(os.environ.get("PAPERMILL_EXECUTION"))


def progress_mode(progress=None) -> str:
    """'bar' | 'log' | 'off'. progress: None/"auto" (detect), False ('off'), True (bar if
    interactive else log), or one of the mode strings."""
    if progress is False:
        return "off"
    if isinstance(progress, str) and progress in ("bar", "log", "off"):
        return progress
    if is_headless():
        return "log"
    try:
        tty = sys.stdout.isatty()
    except Exception:
        tty = False
    return "bar" if (tty or _in_jupyter_frontend()) else "log"


def _fmt_time(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Reports training progress. Only call on the main process (the engine does)."""

    def __init__(self, mode: str, log_every: int = 50, desc: str = "", total_steps: int | None = None,
                 stream=None):
        self.mode = mode
        self.log_every = max(int(log_every), 1)
        self.desc = desc
        self.total_steps = total_steps
        self.stream = stream
        self.bar = None
        self.t0 = time.perf_counter()
        self.steps_done_at_start = None

    def _print(self, msg: str):
        print(msg, file=self.stream or sys.stdout, flush=True)

    def _prefix(self):
        return f"[{self.desc}] " if self.desc else ""

    def start_epoch(self, epoch: int, epochs: int, n_iters: int, start_iter: int = 0):
        self.epoch, self.epochs, self.n_iters = epoch, epochs, n_iters
        if self.mode == "bar":
            from tqdm.auto import tqdm
            self.bar = tqdm(total=n_iters, initial=start_iter, leave=False, dynamic_ncols=True,
                            desc=f"{self.desc + ' ' if self.desc else ''}epoch {epoch + 1}/{epochs}")

    def step(self, it: int, global_step: int, loss: float, lr: float, img_per_s: float):
        """it: 1-based iteration within the epoch; global_step: optimizer steps done."""
        if self.steps_done_at_start is None:
            self.steps_done_at_start = global_step - 1
            self.t0 = time.perf_counter()
        if self.mode == "bar" and self.bar is not None:
            self.bar.update(1)
            if it % max(1, min(self.log_every, 10)) == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.3g}", refresh=False)
        elif self.mode == "log" and (global_step % self.log_every == 0):
            eta = ""
            if self.total_steps:
                done = global_step - self.steps_done_at_start
                el = time.perf_counter() - self.t0
                if done > 0:
                    eta = f" eta {_fmt_time(el / done * (self.total_steps - global_step))}"
            self._print(f"{self._prefix()}epoch {self.epoch + 1}/{self.epochs} step {it}/{self.n_iters} "
                        f"(global {global_step}) loss {loss:.4f} lr {lr:.4g} img/s {img_per_s:.1f}{eta}")

    def end_epoch(self, summary: dict):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.mode == "off":
            return
        parts = []
        for k, v in summary.items():
            if k == "epoch" or v is None:
                continue
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        self._print(f"{self._prefix()}epoch {summary.get('epoch', self.epoch + 1)}/{self.epochs} done: "
                    + ", ".join(parts))

    def message(self, msg: str):
        if self.mode != "off":
            if self.bar is not None:
                self.bar.write(self._prefix() + msg)
            else:
                self._print(self._prefix() + msg)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
