"""Multi-process launches of one notebook: ``--nproc-per-node N`` under torchrun, ``--slurm`` via submitit.

The notebook becomes a script with its parameters injected exactly as papermill would (papermill's
own ``parameterize_notebook``, then nbconvert's ``PythonExporter``), written beside the executed
notebooks, and runs under ``torch.distributed.run`` with one process per device; every rank executes
it and only rank 0 writes results (``Run`` checks ``RANK``). ``--slurm`` submits the same torchrun
command as one SLURM job through ``submitit`` and returns its job id without waiting.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .common import KERNEL_NAME


def notebook_script(input_path: str | Path, parameters: dict) -> str:
    """The notebook as a python script, parameters injected after its parameters cell (as papermill does)."""
    from nbconvert import PythonExporter
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(input_path))  # as papermill loads it (tags normalised)
    nb = parameterize_notebook(nb, parameters, kernel_name=KERNEL_NAME)
    source, _ = PythonExporter().from_notebook_node(nb)
    return source


def torchrun_command(script: str | Path, nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={int(nproc)}",
            str(script)]


def write_script(job: dict) -> Path:
    script = Path(job["output"]).with_suffix(".torchrun.py")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(notebook_script(job["input"], job["params"]), encoding="utf-8")
    return script


def run_torchrun(job: dict, nproc: int) -> dict:
    """Run one notebook under torchrun (in a worker process); a status dict like execute._execute_job's."""
    t0 = time.monotonic()
    script = write_script(job)
    env = {**os.environ, **job["env"]}
    with open(job["log"], "a", encoding="utf-8") as log:
        try:
            p = subprocess.run(torchrun_command(script, nproc), cwd=job["cwd"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, timeout=job.get("timeout"))
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = None
    res = {"slug": job["slug"], "seconds": time.monotonic() - t0, "attempts": 1, "script": str(script)}
    if rc == 0:
        return {**res, "status": "ok"}
    why = f"timeout after {job['timeout']} s" if rc is None else f"exit code {rc}"
    return {**res, "status": "failed",
            "message": f"torchrun --nproc-per-node {nproc} of {script.name}: {why} (the ranks' output is in the log)"}


def submit_slurm(job: dict, nproc: int, folder: Path, **slurm) -> str:
    """Submit the torchrun command of one notebook as a SLURM job (one node, nproc GPUs); returns the job id."""
    import submitit

    script = write_script(job)
    ex = submitit.AutoExecutor(folder=str(folder))
    ex.update_parameters(nodes=1, tasks_per_node=1, gpus_per_node=int(nproc), cpus_per_task=max(1, 4 * int(nproc)),
                         timeout_min=int((job.get("timeout") or 24 * 3600) / 60) + 1, name=job["slug"], **slurm)
    env = {**os.environ, **{k: v for k, v in job["env"].items() if not k.startswith("PAPERLIB_OUT")
                            and k != "PAPERLIB_STAGING"}}  # the job takes its own output lock
    fut = ex.submit(subprocess.run, torchrun_command(script, nproc), cwd=job["cwd"], env=env, check=True)
    return str(fut.job_id)
