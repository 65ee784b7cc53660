"""Run planned notebooks in a process pool, record outcomes in the cache, print the summary."""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..config import ConfigError
from . import execute
from .cache import _file_sha, _sha, cache_status, canonical_json, data_manifests, key_parts, library_digest, library_versions, read_cache
from .common import Layout, _now, _registry, _rel, write_json
from .plan import prepare
from .report import write_report


@dataclass
class Outcome:
    slug: str
    status: str  # ok | skipped | FAILED
    seconds: float = 0.0
    message: str = ""



def _fmt_seconds(s: float) -> str:
    return f"{s:.1f}"


def _summary(outcomes: list[Outcome]) -> str:
    w = max([len("paper")] + [len(o.slug) for o in outcomes])
    lines = [f"{'paper':<{w}}  {'status':<7}  {'seconds':>8}", f"{'-' * w}  {'-' * 7}  {'-' * 8}"]
    for o in outcomes:
        lines.append(f"{o.slug:<{w}}  {o.status:<7}  {_fmt_seconds(o.seconds):>8}")
    return "\n".join(lines)


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_papers(slugs: Iterable[str] | None = None, profile: str = "default", params: dict | None = None,
               overrides: dict | None = None, out: str | Path | None = None, jobs: int = 1,
               force: bool = False, *, papers=None, layout: Layout | None = None,
               report: bool | None = None, stream=None) -> int:
    """Run notebooks; returns the exit code (0 ok, 1 some notebook failed, 2 refused)."""
    stream = stream or sys.stdout
    layout = layout or Layout()
    papers = _registry(papers)

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
        job["parts"], job["key"] = parts, _sha(canonical_json(parts))
        entry = read_cache(layout, profile, job["slug"])
        ok, reason = cache_status(entry, job["key"], parts)
        if ok and not force:
            say(f"skip {job['slug']} (unchanged since {entry.get('finished_at', '?')})")
            outcomes[job["slug"]] = Outcome(job["slug"], "skipped")
        else:
            job["reason"] = "--force" if ok else reason
            todo.append(job)

    if todo:
        n = max(1, min(int(jobs or 1), len(todo)))
        for job in todo:
            timeout = f", timeout {job['timeout']} s" if job["timeout"] else ""
            say(f"run  {job['slug']} ({job['reason']}; profile {profile}{timeout}) -> {_rel(job['output'])}")
        with cf.ProcessPoolExecutor(max_workers=n, mp_context=_mp_context()) as pool:
            futures = {pool.submit(execute._execute_job, job): job for job in todo}
            try:
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        res = fut.result()
                    except Exception as e:  # a crashed worker process
                        res = {"status": "failed", "seconds": 0.0, "message": f"worker crashed: {e!r}"}
                    outcomes[job["slug"]] = _finish(job, res, layout, say)
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                raise

    ordered = [outcomes[j["slug"]] for j in planned]
    say()
    say(_summary(ordered))
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


def _finish(job: dict, res: dict, layout: Layout, say) -> Outcome:
    slug, profile = job["slug"], job["profile"]
    cache = layout.cache_file(profile, slug)
    cache.parent.mkdir(parents=True, exist_ok=True)
    entry = {"slug": slug, "profile": profile, "finished_at": _now(), "seconds": round(res["seconds"], 2),
             "notebook": job["output"], "params": job["params"]}
    results = Path(job["results"])
    if res["status"] == "ok" and not results.is_file():
        res = {**res, "status": "failed",
               "message": f"notebook finished but wrote no {_rel(results)} (did it call run.finalize()?)"}
    if res["status"] == "ok":
        try:
            data = data_manifests(json.loads(results.read_text()))
        except ValueError as e:
            data = None
            res = {**res, "status": "failed", "message": f"unreadable {_rel(results)}: {e}"}
    if res["status"] == "ok":
        entry.update(status="ok", key=job["key"], parts=job["parts"], results=str(results),
                     results_sha256=_file_sha(results), data=data)
        write_json(cache, entry)
        say(f"ok   {slug} in {_fmt_seconds(res['seconds'])} s -> {_rel(results.parent)}/")
        return Outcome(slug, "ok", res["seconds"])
    message = res.get("message", "failed")
    entry.update(status="failed", message=message, results=str(results))
    write_json(cache, entry)
    where = f" — partial notebook at {_rel(job['output'])}" if Path(job["output"]).exists() else ""
    log = Path(job["output"]).with_suffix(".log")
    where += f" (log: {_rel(log)})" if log.exists() else ""
    say(f"FAILED {slug}: {message}{where}")
    return Outcome(slug, "FAILED", res["seconds"], message)

