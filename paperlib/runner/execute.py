"""One notebook execution with papermill, in a worker process; failures described by cell."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from .common import KERNEL_NAME, KERNEL_START_TIMEOUT, _load_nb


def _papermill_execute(input_path: str, output_path: str, parameters: dict, cwd: str,
                       timeout: float | None, log) -> None:
    """One papermill execution; `timeout` bounds the whole notebook (seconds, None = no limit)."""
    import papermill as pm

    kw = {}
    if timeout:
        deadline = time.monotonic() + timeout
        # nbclient asks for a per-cell timeout when each cell starts: give it what is left
        kw["timeout_func"] = lambda cell: max(1, math.ceil(deadline - time.monotonic()))
        kw["execution_timeout"] = int(math.ceil(timeout))
    if _CELL_HOOK is not None:
        kw["on_cell_start"] = _CELL_HOOK  # nbclient calls it before every cell, markdown included
    pm.execute_notebook(input_path, output_path, parameters=parameters, kernel_name=KERNEL_NAME,
                        cwd=cwd, progress_bar=False, log_output=False, stdout_file=log,
                        stderr_file=log, start_timeout=KERNEL_START_TIMEOUT, **kw)


#: the progress hook of this worker process (set by _execute_job)
_CELL_HOOK = None


def heading_of(cell) -> str | None:
    """The first markdown heading of a cell, without the #s (None for code / no heading)."""
    if cell.get("cell_type") != "markdown":
        return None
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    for ln in src.splitlines():
        if ln.lstrip().startswith("#"):
            return ln.strip().lstrip("#").strip() or None
    return None


def progress_hook(path: Path, n_cells: int):
    """An nbclient on_cell_start hook appending one JSON line per cell to `path` (read by the parent)."""

    def hook(cell=None, cell_index=None, **_):
        event = {"t": time.time(), "cell": (cell_index or 0) + 1, "of": n_cells,
                 "type": cell.get("cell_type") if cell is not None else None,
                 "heading": heading_of(cell) if cell is not None else None}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    return hook



def _started(output: Path) -> bool:
    """Whether any cell began executing (otherwise the failure was the kernel start)."""
    nb = _load_nb(output)
    if not nb:
        return False
    for cell in nb.get("cells", []):
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("start_time") or cell.get("execution_count") is not None:
            return True
    return False


def _source_cell(source_nb: Path, exec_index: int | None) -> tuple[int | None, str]:
    """(1-based cell number in the source notebook, its first code line) for an index in the
    executed notebook (which has papermill's injected-parameters cell after the parameters cell)."""
    nb = _load_nb(source_nb) or {}
    cells = nb.get("cells", [])
    if exec_index is None:
        return None, ""
    p = next((i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    idx = exec_index - 1 if exec_index > p + 1 else exec_index
    if not 0 <= idx < len(cells):
        return None, ""
    src = cells[idx].get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    first = next((ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    return idx + 1, (first[:60] + "...") if len(first) > 60 else first


def _running_cell(output: Path) -> tuple[int | None, Any]:
    nb = _load_nb(output) or {}
    cells = nb.get("cells", [])
    # the failed/timed-out cell is the last one papermill started
    last = None
    for i, c in enumerate(cells):
        if c.get("metadata", {}).get("papermill", {}).get("start_time"):
            last = i
    if last is None:
        return None, None
    # papermill may have inserted an error-marker markdown cell at the top
    marker = cells and "papermill-error-cell-tag" in cells[0].get("metadata", {}).get("tags", [])
    return (last - 1 if marker else last), cells[last].get("execution_count")


def describe_failure(exc: BaseException, source_nb: Path, output_nb: Path, timeout: float | None = None) -> str:
    """One line naming the failed cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        num, first = _source_cell(source_nb, exc.cell_index)
        where = f"cell {num}" if num else f"cell index {exc.cell_index}"
        evalue = str(exc.evalue).strip().splitlines()
        evalue = evalue[-1] if evalue else ""
        return (f"{where} (In [{exc.exec_count}]{', `' + first + '`' if first else ''}): "
                f"{exc.ename}: {evalue}")
    name = type(exc).__name__
    msg = str(exc).strip().splitlines()
    msg = msg[0] if msg else ""
    if name in ("CellTimeoutError", "TimeoutError") or "timed out" in msg.lower():
        idx, count = _running_cell(output_nb)
        num, first = _source_cell(source_nb, idx)
        where = f"cell {num} (In [{count}]{', `' + first + '`' if first else ''})" if num else "a cell"
        budget = f" (the notebook's budget is {timeout:g} s at this profile)" if timeout else ""
        return f"{where}: timeout: {msg}{budget}"
    if name == "DeadKernelError":
        idx, count = _running_cell(output_nb)
        num, first = _source_cell(source_nb, idx)
        where = f"cell {num} (In [{count}])" if num else "a cell"
        return f"{where}: the kernel died (out of memory?): {msg}"
    return f"{name}: {msg}"


def _redirect_std(log) -> None:
    """Send this worker's (and so the kernel's) stdout/stderr to the notebook's log file."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    for fd in (1, 2):
        try:
            os.dup2(log.fileno(), fd)
        except OSError:  # pragma: no cover
            pass


def _execute_job(job: dict) -> dict:
    """Run one notebook (in its own worker process). Never raises: returns a status dict."""
    global _CELL_HOOK
    os.environ.update(job["env"])
    src, out = Path(job["input"]), Path(job.get("running") or job["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(job.get("log") or out.with_suffix(".log"))
    _CELL_HOOK = None
    if job.get("progress"):
        nb = _load_nb(src) or {}
        # papermill adds one cell (its injected parameters) after the parameters cell
        _CELL_HOOK = progress_hook(Path(job["progress"]), len(nb.get("cells", [])) + 1)
    t0 = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            with open(log_path, "w" if attempt == 1 else "a", encoding="utf-8") as log:
                _redirect_std(log)
                _papermill_execute(str(src), str(out), job["params"], job["cwd"], job["timeout"], log)
            return {"slug": job["slug"], "status": "ok", "seconds": time.monotonic() - t0,
                    "attempts": attempt}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            if isinstance(exc, KeyboardInterrupt):
                raise
            started = _started(out)
            if not started and attempt == 1 and type(exc).__name__ not in ("NoSuchKernel",):
                with open(log_path, "a", encoding="utf-8") as log:
                    log.write(f"\n[paperlib] kernel failed to start ({type(exc).__name__}: {exc}); retrying once\n")
                continue
            try:
                message = describe_failure(exc, src, out, job["timeout"])
            except Exception as e2:  # pragma: no cover - description must not hide the failure
                message = f"{type(exc).__name__}: {exc} (and {e2!r} while describing it)"
            if not started:
                message = f"kernel failed to start: {message}"
            return {"slug": job["slug"], "status": "failed", "seconds": time.monotonic() - t0,
                    "attempts": attempt, "message": message}

