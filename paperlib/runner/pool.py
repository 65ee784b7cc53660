"""Run planned notebooks in a process pool, record outcomes in the cache, print the summary."""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import platform
import re
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterable

from .. import staging
from ..config import ConfigError
from ..process import die_with_parent
from . import execute, launch
from .cache import _file_sha, _sha, cache_status, canonical_json, data_manifests, key_parts, library_digest, library_versions, read_cache
from .common import Layout, _load_nb, _now, _registry, _rel, write_json
from .plan import prepare
from .progress import Monitor, cell_seconds
from .report import verdict_counts, write_report
from .status import summary_table


@dataclass
class Outcome:
    slug: str
    status: str  # ok | skipped | FAILED | submitted
    seconds: float = 0.0
    message: str = ""
    entry: dict | None = None  # the cache entry of this run (or of the run a skip relies on)


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f}"


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _lock_outputs(todo: list[dict], say) -> None:
    """Take every output folder's lock (or refuse, releasing those taken), mark what dead runs left,
    and give each job its staging folder (handed to the notebook's Run through the environment)."""
    taken = []
    try:
        for job in todo:
            final = Path(job["results"]).parent
            token, previous = staging.acquire(final)
            taken.append(final)
            if previous.get("pid"):
                say(f"note {job['slug']}: took over the lock of pid {previous['pid']} on {previous.get('host', '?')} "
                    "(that process is gone)")
            for failed in staging.recover(final):
                say(f"note {job['slug']}: a killed run's partial outputs are now in {_rel(failed)}/")
            job["staging"] = str(staging.new_staging(final))
            job["env"] = {**job["env"], staging.TOKEN_ENV: token, staging.STAGING_ENV: job["staging"]}
    except staging.OutputLocked as e:
        for final in taken:
            staging.release(final)
        raise ConfigError(str(e)) from None


def run_papers(slugs: Iterable[str] | None = None, profile: str = "default", params: dict | None = None,
               overrides: dict | None = None, out: str | Path | None = None, jobs: int = 1,
               force: bool = False, *, papers=None, layout: Layout | None = None,
               report: bool | None = None, stream=None, verbose: bool = False, tty: bool | None = None,
               nproc_per_node: int | None = None, slurm: bool = False) -> int:
    """Run notebooks; returns the exit code (0 ok, 1 some notebook failed, 2 refused).

    nproc_per_node: run each notebook as a script under torchrun with that many processes;
    slurm: submit that torchrun command as a SLURM job through submitit (no waiting)."""
    stream = stream or sys.stdout
    layout = layout or Layout()
    papers = _registry(papers)
    if tty is None:
        tty = _is_terminal(stream)

    def say(msg=""):
        print(msg, file=stream, flush=True)

    try:
        planned = prepare(slugs, profile, params, overrides, out, papers=papers, layout=layout)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    if not planned:
        say(f"no notebooks found in {_rel(layout.notebooks_dir)}/")
        return 0

    versions, python_version = library_versions(), platform.python_version()
    lib = library_digest(layout.lib_dir)
    outcomes: dict[str, Outcome] = {}
    todo = []
    for job in planned:
        parts = key_parts(Path(job["input"]), job["params"], lib_hash=lib, versions=versions,
                          python_version=python_version)
        if nproc_per_node:
            parts["nproc_per_node"] = int(nproc_per_node)
        job["parts"], job["key"] = parts, _sha(canonical_json(parts))
        entry = read_cache(layout, profile, job["slug"])
        ok, reason = cache_status(entry, job["key"], parts)
        _recover_leftovers(layout, profile, job, say)
        if ok and not force:
            for failed in staging.recover_if_free(Path(job["results"]).parent):
                say(f"note {job['slug']}: a killed run's partial outputs are now in {_rel(failed)}/")
            say(f"skip {job['slug']} (unchanged since {entry.get('finished_at', '?')})")
            outcomes[job["slug"]] = Outcome(job["slug"], "skipped", entry=entry)
        else:
            job["reason"] = "--force" if ok else reason
            job["past_cell_seconds"] = (entry or {}).get("cell_seconds") if (entry or {}).get("status") == "ok" else None
            todo.append(job)

    if todo and slurm:
        folder = layout.runs_dir / profile / "slurm"
        for job in todo:
            job_id = launch.submit_slurm(job, nproc_per_node or 1, folder)
            say(f"submitted {job['slug']}: SLURM job {job_id} (torchrun --nproc-per-node {nproc_per_node or 1}; "
                f"logs in {_rel(folder)}/); results will appear in {_rel(Path(job['results']).parent)}/")
            outcomes[job["slug"]] = Outcome(job["slug"], "submitted")
        todo = []
    if todo:
        try:
            _lock_outputs(todo, say)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return 2
        try:
            _run_pool(todo, jobs, layout, profile, say, outcomes, tty=tty, verbose=verbose, nproc=nproc_per_node)
        finally:
            for job in todo:
                staging.release(Path(job["results"]).parent)

    ordered = [outcomes[j["slug"]] for j in planned]
    say()
    say(summary_table([(o.slug, o.status, o.entry) for o in ordered]))
    failed = [o for o in ordered if o.status == "FAILED"]

    if report is None:
        report = profile == "default" and Path(planned[0]["results"]).parent.parent == layout.figures_dir.resolve()
    if report:
        path = write_report(layout.figures_dir, papers)
        say(f"report: {_rel(path)}")
    if failed:
        say(f"{len(failed)} of {len(ordered)} notebook(s) failed: {', '.join(o.slug for o in failed)}")
        return 1
    return 0


def _is_terminal(stream) -> bool:
    """A terminal with a width (tqdm draws nothing on a zero-width pseudo-terminal: plain lines there)."""
    try:
        return stream.isatty() and os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def _recover_leftovers(layout: Layout, profile: str, job: dict, say) -> None:
    """A killed runner's executed notebook becomes <slug>.failed.ipynb; its progress file goes."""
    slug, folder = job["slug"], layout.runs_dir / profile
    for path in sorted(folder.glob(f".{slug}.running-*.ipynb")) + sorted(folder.glob(f".{slug}.progress-*.jsonl")):
        tag = path.stem.rsplit("-", 1)[-1]
        if not tag.isdigit() or _pid_alive(int(tag)):
            continue
        if path.suffix == ".ipynb":
            failed = layout.executed(profile, slug).with_name(f"{slug}.failed.ipynb")
            os.replace(path, failed)
            say(f"note {slug}: a killed run's partial notebook is now {_rel(failed)}")
        else:
            path.unlink(missing_ok=True)


def _run_pool(todo, jobs, layout, profile, say, outcomes, *, tty, verbose, nproc=None) -> None:
    n = max(1, min(int(jobs or 1), len(todo)))
    for job in todo:
        tag = f"{os.getpid()}"
        job["running"] = str(layout.executed(profile, f".{job['slug']}.running-{tag}"))
        job["progress"] = str(layout.executed(profile, f".{job['slug']}.progress-{tag}").with_suffix(".jsonl"))
        job["log"] = str(Path(job["output"]).with_suffix(".log"))
        Path(job["running"]).parent.mkdir(parents=True, exist_ok=True)
        Path(job["progress"]).write_text("")
        Path(job["log"]).write_text("")
        timeout = f", timeout {job['timeout']} s" if job["timeout"] else ""
        say(f"run  {job['slug']} ({job['reason']}; profile {profile}{timeout}) -> {_rel(job['output'])}")
    with Monitor(todo, say, tty=tty, verbose=verbose) as monitor, \
            cf.ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(), initializer=die_with_parent) as pool:
        fn = partial(launch.run_torchrun, nproc=nproc) if nproc else execute._execute_job
        futures = {pool.submit(fn, job): job for job in todo}
        try:
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    res = fut.result()
                except Exception as e:  # a crashed worker process
                    res = {"status": "failed", "seconds": 0.0, "message": f"worker crashed: {e!r}"}
                monitor.done(job["slug"])
                outcomes[job["slug"]] = _finish(job, res, layout, say)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            for job in todo:
                if job["slug"] not in outcomes:
                    staging.mark_failed(Path(job["results"]).parent, Path(job["staging"]), "interrupted (Ctrl-C)")
            raise
        finally:
            for job in todo:
                Path(job["progress"]).unlink(missing_ok=True)


def _failed_cell(message: str) -> int | None:
    m = re.match(r"(?:kernel failed to start: )?cell (\d+)", message or "")
    return int(m.group(1)) if m else None


def _finish(job: dict, res: dict, layout: Layout, say) -> Outcome:
    """Record one notebook's outcome. Success only once its outputs were swapped into place."""
    slug, profile = job["slug"], job["profile"]
    cache = layout.cache_file(profile, slug)
    cache.parent.mkdir(parents=True, exist_ok=True)
    results, final = Path(job["results"]), Path(job["results"]).parent
    running, executed = Path(job.get("running") or job["output"]), Path(job["output"])
    entry = {"slug": slug, "profile": profile, "finished_at": _now(), "seconds": round(res["seconds"], 2),
             "params": job["params"], "outputs": str(final), "log": job.get("log")}
    if res["status"] == "ok" and Path(job.get("staging") or "/nonexistent").exists():
        res = {**res, "status": "failed",
               "message": "notebook finished but its outputs were never published (did it end with run.finalize()?)"}
    if res["status"] == "ok" and not results.is_file():
        res = {**res, "status": "failed",
               "message": f"notebook finished but wrote no {_rel(results)} (did it call run.finalize()?)"}
    if res["status"] == "ok":
        try:
            found = json.loads(results.read_text())
            data = data_manifests(found)
        except ValueError as e:
            data = None
            res = {**res, "status": "failed", "message": f"unreadable {_rel(results)}: {e}"}
    if res["status"] == "ok":
        if running != executed and running.exists():
            os.replace(running, executed)
        nb = _load_nb(executed)
        entry.update(status="ok", key=job["key"], parts=job["parts"], results=str(results),
                     notebook=res.get("script") or str(executed),
                     results_sha256=_file_sha(results), data=data, verdicts=verdict_counts(found),
                     cell_seconds=cell_seconds(nb) if nb else None)
        write_json(cache, entry)
        say(f"ok   {slug} in {_fmt_seconds(res['seconds'])} s -> {_rel(final)}/")
        return Outcome(slug, "ok", res["seconds"], entry=entry)
    message = res.get("message", "failed")
    failed_nb = executed.with_name(f"{slug}.failed.ipynb")
    if running.exists():
        os.replace(running, failed_nb)
    marked = staging.mark_failed(final, Path(job["staging"]), message) if job.get("staging") else None
    entry.update(status="failed", message=message, results=str(results), failed_cell=_failed_cell(message),
                 notebook=res.get("script") or (str(failed_nb) if failed_nb.exists() else None),
                 outputs=str(marked) if marked else str(final))
    write_json(cache, entry)
    where = f" — partial notebook at {_rel(failed_nb)}" if failed_nb.exists() else ""
    where += f", partial outputs in {_rel(marked)}/" if marked else ""
    log = Path(job.get("log") or executed.with_suffix(".log"))
    where += f" (log: {_rel(log)})" if log.exists() else ""
    say(f"FAILED {slug}: {message}{where}")
    return Outcome(slug, "FAILED", res["seconds"], message, entry=entry)
