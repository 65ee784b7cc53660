"""Sweeps: many small jobs (design-space populations, lr/wd grids), cached on disk, resumable.

    from paperlib.sweep import run_sweep
    recs = run_sweep("paperlib.experiments.regnet:train_one", configs, cache_dir="runs/sweeps/08",
                     workers=None, backend="local", data_hash=manifest_hash)
    errs = [r["result"]["err"] for r in recs if r["status"] == "ok"]

* ``fn`` is an importable top-level function (or its ``"module:qualname"`` path) taking one config
  (a JSON-serialisable dict) and returning a JSON-serialisable dict.
* Each job is keyed by ``sha256(fn path, config, data_hash, code_version)``; ``code_version``
  defaults to a hash of every ``.py`` file of ``paperlib`` (so editing the library invalidates the
  cache); pass ``code=code_version(paths=[...])`` to key on the modules the job really runs. Its record is written atomically to ``<cache_dir>/<key>.json`` *by the job itself*, so a
  sweep interrupted at any point (Ctrl-C, a killed notebook, a SLURM time limit) keeps every
  finished job; running the sweep again runs only the missing ones.
* A job that raises is recorded (``status="failed"``, ``error``, ``traceback``) and reported; the
  sweep goes on. Failed records are cached too (a re-run is instant); ``retry_failed=True`` reruns
  them. Infrastructure failures (a worker process killed, a lost SLURM job) are reported but not
  cached, so the next run retries them.
* Backends: ``"serial"`` (in this process), ``"local"`` (a spawn-context process pool using all
  cores), ``"submitit"`` (``submitit.AutoExecutor``: SLURM when available, else local processes;
  ``executor_kwargs`` go to ``update_parameters``, e.g.
  ``{"slurm_partition": "learnfair", "gpus_per_node": 1, "timeout_min": 60}``),
  ``"submitit_local"`` (``submitit.LocalExecutor``) and ``"submitit_debug"`` (``DebugExecutor``,
  in-process; for tests).
* Determinism: every backend runs each job at ``threads_per_worker`` torch threads (default 1) --
  ``"serial"`` and ``"submitit_debug"`` too, restoring the caller's thread count afterwards -- because
  the thread count changes the float summation order of CPU kernels and hence a trained job's numbers.
  A job's result therefore depends on its config only: not on the backend, the number of workers,
  which worker ran it or in what order, the caller's threads, or whether its record came from the cache.
* Progress: one line per finished job (``[k/n] ok key ... 3.2 s``) on stdout.

Records: ``{"key", "fn", "config", "status": "ok"|"failed", "result", "error", "traceback",
"seconds", "data_hash", "code_version", "host", "pid", "finished"}`` (+ ``"numerics"``, the job's
:func:`paperlib.engine.runtime.numerics_fingerprint`, when it used torch) plus ``"cached"`` (True when
read from disk by this call). The returned list is in the order of ``configs``.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import json
import multiprocessing as mp
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from .process import die_with_parent
from .jsonio import json_default as _json_default

__all__ = ["run_sweep", "job_key", "code_version", "load_records", "fn_path", "summarize",
           "example_job", "BACKENDS"]

BACKENDS = ("serial", "local", "submitit", "submitit_local", "submitit_debug")
_PKG_ROOT = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- keys
def code_version(root: Union[str, Path, None] = None, paths: Optional[Sequence[str]] = None) -> str:
    """sha256 (16 hex) over the relative paths and contents of the .py files under ``root``
    (default: the paperlib package). ``paths`` (files or folders relative to ``root``) restricts the
    hash to the code a job actually runs, so that edits elsewhere in the package do not invalidate a
    sweep's cache (e.g. ``["engine", "models/anynet.py", "experiments/regnet.py"]``)."""
    root = Path(root) if root is not None else _PKG_ROOT
    if paths is None:
        files = sorted(root.rglob("*.py"))
    else:
        files = set()
        for rel in paths:
            p = root / rel
            if p.is_dir():
                files.update(p.rglob("*.py"))
            elif p.exists():
                files.add(p)
            else:
                raise FileNotFoundError(f"code_version: {p} does not exist")
        files = sorted(files)
    h = hashlib.sha256()
    for p in files:
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def fn_path(fn: Union[str, Callable]) -> str:
    """``"module:qualname"`` of an importable top-level function."""
    if isinstance(fn, str):
        if ":" not in fn:
            raise ValueError(f"function path must be 'module:qualname', got {fn!r}")
        return fn
    mod, qn = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not mod or not qn or "<locals>" in qn or "<lambda>" in qn:
        raise ValueError(f"{fn!r} is not an importable top-level function")
    if mod == "__main__":
        raise ValueError("sweep functions must live in an importable module, not __main__ "
                         "(worker processes are spawned and must import it)")
    return f"{mod}:{qn}"


def _resolve(path: str) -> Callable:
    mod, qn = path.split(":", 1)
    obj: Any = importlib.import_module(mod)
    for part in qn.split("."):
        obj = getattr(obj, part)
    return obj


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=_json_default)


def job_key(fn: Union[str, Callable], config: dict, data_hash: str = "", code: str = "") -> str:
    """Cache key of one job: sha256 (24 hex) of fn path, config, data hash and code version."""
    payload = _canon({"fn": fn_path(fn), "config": config, "data": data_hash, "code": code})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------- records
def _write_json_atomic(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_record(path: Path) -> Optional[dict]:
    try:
        with open(path) as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) and rec.get("status") in ("ok", "failed") else None
    except (OSError, ValueError):
        return None


def load_records(cache_dir: Union[str, Path]) -> List[dict]:
    """Every finished record under ``cache_dir`` (any sweep), sorted by key."""
    out = []
    for p in sorted(Path(cache_dir).glob("*.json")):
        r = _read_record(p)
        if r is not None:
            out.append(r)
    return out


def _set_threads(n: int = 1) -> None:
    """Limit this (worker) process to ``n`` threads: OMP/MKL env vars for libraries imported later,
    and ``torch.set_num_threads`` when torch is already imported (it is not imported here, so a job
    that does not need torch does not pay for it)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(n)
        except Exception:  # pragma: no cover
            pass


class _threads_scope:
    """Run a job in this process at ``n`` threads (torch and the OMP/MKL variables), then restore the
    caller's: the serial backends give the numbers a pool worker gives."""

    VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

    def __init__(self, n: Optional[int]):
        self.n = n

    def __enter__(self):
        if self.n:
            self.env = {v: os.environ.get(v) for v in self.VARS}
            torch = sys.modules.get("torch")
            self.torch_threads = torch.get_num_threads() if torch is not None else None
            _set_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.n:
            for v, old in self.env.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
            torch = sys.modules.get("torch")
            if torch is not None:
                torch.set_num_threads(self.torch_threads or _default_workers())
        return False


def _worker_init(threads: int) -> None:
    die_with_parent()          # a killed notebook kernel / driver takes its sweep workers with it
    _set_threads(threads)


def _execute(path: str, config: dict, key: str, cache_dir: str, meta: dict,
             threads: Optional[int] = None) -> dict:
    """Run one job and write its record (runs inside the worker)."""
    if threads:
        _set_threads(threads)
    t0 = time.time()
    rec = {"key": key, "fn": path, "config": config, "host": socket.gethostname(), "pid": os.getpid(),
           **meta}
    try:
        f = _resolve(path)
        if threads:
            _set_threads(threads)   # again, now that the job's module (and maybe torch) is imported
        result = f(config)
        json.dumps(result, default=_json_default)  # fail here (recorded) rather than at write time
        rec.update(status="ok", result=result, error=None, traceback=None)
    except Exception as e:  # noqa: BLE001 - every job failure is data
        rec.update(status="failed", result=None, error=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc())
    rec["seconds"] = round(time.time() - t0, 3)
    if "torch" in sys.modules:     # what selected the CPU kernels (README, "Determinism"), for a later diff
        from .engine.runtime import numerics_fingerprint
        rec["numerics"] = numerics_fingerprint()
    rec["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _write_json_atomic(Path(cache_dir) / f"{key}.json", rec)
    return rec


# ----------------------------------------------------------------------------- the sweep
def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def run_sweep(fn: Union[str, Callable], configs: Sequence[dict], cache_dir: Union[str, Path], *,
              workers: Optional[int] = None, backend: str = "local", data_hash: str = "",
              code: Optional[str] = None, retry_failed: bool = False, threads_per_worker: int = 1,
              executor_kwargs: Optional[dict] = None, verbose: bool = True,
              max_jobs: Optional[int] = None, poll_s: float = 0.5,
              log: Optional[Callable[[str], None]] = None) -> List[dict]:
    """Run ``fn(config)`` for every config; cached, resumable, failures recorded (module docstring).

    ``workers``: pool size (default: all cores) / max parallel submitit jobs; it never changes a job's
    numbers.  ``threads_per_worker``: torch threads of every job, whatever the backend (0 = leave as
    is).  ``code``: the code version in the key (default :func:`code_version`).  ``max_jobs``: run at
    most this many missing jobs, then return (the rest have no record; their entries are
    ``{"status": "missing"}``) -- for budgeted runs and tests of resumption.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
    path = fn_path(fn)
    code = code_version() if code is None else code
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    say = log or (lambda s: print(s, flush=True))
    configs = list(configs)
    keys = [job_key(path, c, data_hash, code) for c in configs]
    meta = {"data_hash": data_hash, "code_version": code}

    records: Dict[str, dict] = {}
    todo: List[int] = []
    seen = set()
    for i, k in enumerate(keys):
        if k in seen:
            continue
        seen.add(k)
        r = _read_record(cache / f"{k}.json")
        if r is not None and not (retry_failed and r["status"] == "failed"):
            r["cached"] = True
            records[k] = r
        else:
            todo.append(i)
    if max_jobs is not None:
        todo = todo[:max(0, int(max_jobs))]
    n_total, n_cached = len(seen), len(records)
    if verbose:
        say(f"sweep {path}: {n_total} jobs, {n_cached} cached, {len(todo)} to run "
            f"(backend={backend}, cache={cache})")

    done = [0]
    t_start = time.time()

    def finish(i: int, rec: dict) -> None:
        rec = dict(rec)
        rec["cached"] = False
        records[keys[i]] = rec
        done[0] += 1
        if verbose:
            msg = f"[{done[0]}/{len(todo)}] {rec['status']:6s} {keys[i][:10]} {rec.get('seconds', 0):.1f}s"
            if rec["status"] != "ok":
                msg += f"  {rec.get('error')}"
            say(msg)

    def infra_fail(i: int, err: BaseException) -> None:
        finish(i, {"key": keys[i], "fn": path, "config": configs[i], "status": "failed",
                   "result": None, "error": f"{type(err).__name__}: {err} (not cached)",
                   "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
                   "seconds": 0.0, **meta})

    if todo:
        if backend == "serial":
            for i in todo:
                with _threads_scope(threads_per_worker):
                    rec = _execute(path, configs[i], keys[i], str(cache), meta, threads=threads_per_worker)
                finish(i, rec)
        elif backend == "local":
            n = min(workers or _default_workers(), len(todo))
            ctx = mp.get_context("spawn")
            ex = cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init,
                                        initargs=(threads_per_worker,))
            try:
                futs = {ex.submit(_execute, path, configs[i], keys[i], str(cache), meta,
                                  threads_per_worker): i for i in todo}
                for f in cf.as_completed(futs):
                    i = futs[f]
                    try:
                        finish(i, f.result())
                    except Exception as e:  # worker died (BrokenProcessPool) etc.
                        infra_fail(i, e)
            except BaseException:
                # interrupted (Ctrl-C, notebook timeout): drop queued jobs and return at once;
                # jobs already running finish in the background and still write their records
                ex.shutdown(wait=False, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
        else:
            _run_submitit(backend, path, configs, keys, todo, cache, meta, workers, threads_per_worker,
                          executor_kwargs or {}, finish, infra_fail, poll_s)

    out = []
    for k, c in zip(keys, configs):
        r = records.get(k)
        out.append(r if r is not None else {"key": k, "config": c, "status": "missing"})
    if verbose:
        n_ok = sum(r["status"] == "ok" for r in records.values())
        n_fail = sum(r["status"] == "failed" for r in records.values())
        say(f"sweep done: {n_ok} ok, {n_fail} failed, {n_total - n_ok - n_fail} missing "
            f"({time.time() - t_start:.1f}s)")
        for r in records.values():
            if r["status"] == "failed" and not r.get("cached"):
                tb = (r.get("traceback") or "").strip().splitlines()
                say(f"  failed {r['key'][:10]}: {r['error']}" + (f"\n    {tb[-2].strip()}" if len(tb) > 1 else ""))
    return out


def _run_submitit(backend, path, configs, keys, todo, cache, meta, workers, threads, executor_kwargs,
                  finish, infra_fail, poll_s):
    import submitit

    folder = cache / "submitit" / "%j"
    if backend == "submitit":
        ex = submitit.AutoExecutor(folder=folder)
        params = dict(executor_kwargs)
        if workers:
            params.setdefault("slurm_array_parallelism", workers)
        params.setdefault("timeout_min", 60)
        ex.update_parameters(**params)
    elif backend == "submitit_local":
        ex = submitit.LocalExecutor(folder=folder)
        params = {"timeout_min": 60, **executor_kwargs}
        ex.update_parameters(**params)
    else:
        ex = submitit.DebugExecutor(folder=folder)
    jobs = {}
    if backend == "submitit_debug":
        # DebugExecutor runs each job in-process when its result is requested
        for i in todo:
            j = ex.submit(_execute, path, configs[i], keys[i], str(cache), meta, threads)
            try:
                with _threads_scope(threads):
                    rec = j.result()
                finish(i, rec)
            except Exception as e:  # noqa: BLE001
                infra_fail(i, e)
        return
    if backend == "submitit_local" and workers:
        # LocalExecutor starts every job at once; submit in waves of `workers`
        waves = [todo[s:s + workers] for s in range(0, len(todo), workers)]
    else:
        waves = [todo]
    for wave in waves:
        jobs = {}
        with ex.batch():
            for i in wave:
                jobs[i] = ex.submit(_execute, path, configs[i], keys[i], str(cache), meta, threads)
        pending = dict(jobs)
        while pending:
            for i, j in list(pending.items()):
                if j.done():
                    del pending[i]
                    try:
                        finish(i, j.result())
                    except Exception as e:  # noqa: BLE001 - job lost / killed / timed out
                        rec = _read_record(cache / f"{keys[i]}.json")
                        if rec is not None:
                            finish(i, rec)
                        else:
                            infra_fail(i, e)
            if pending:
                time.sleep(poll_s)


def summarize(records: Iterable[dict]) -> Dict[str, Any]:
    """Counts of ok / failed / missing / cached and total job seconds."""
    records = list(records)
    return {"n": len(records),
            "ok": sum(r.get("status") == "ok" for r in records),
            "failed": sum(r.get("status") == "failed" for r in records),
            "missing": sum(r.get("status") == "missing" for r in records),
            "cached": sum(bool(r.get("cached")) for r in records),
            "seconds": round(sum(float(r.get("seconds") or 0) for r in records), 2)}


# ----------------------------------------------------------------------------- test helper
def example_job(config: dict) -> dict:
    """A tiny job for tests and demos.

    ``config``: ``x`` (number), optional ``marker_dir`` (a file is created per execution, so tests
    can count executions), ``fail`` (raise ValueError), ``sleep`` (seconds), ``reduce`` (n: also
    return ``sum``, the float32 sum of n seeded normal numbers -- a kernel whose last bits depend on
    the thread count, as a conv or matmul training step's do).
    """
    if config.get("marker_dir"):
        d = Path(config["marker_dir"])
        d.mkdir(parents=True, exist_ok=True)
        (d / f"x{config.get('x')}_{os.getpid()}_{time.time_ns()}").touch()
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    if config.get("fail"):
        raise ValueError(f"job x={config.get('x')} asked to fail")
    x = config.get("x", 0)
    threads = None
    if "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    out = {"y": x * x, "pid": os.getpid(), "torch_threads": threads,
           "omp_threads": os.environ.get("OMP_NUM_THREADS")}
    if config.get("reduce"):
        import torch

        g = torch.Generator().manual_seed(int(x))
        out["sum"] = torch.randn(int(config["reduce"]), generator=g).sum().item()
        out["torch_threads"] = torch.get_num_threads()
    return out
