"""The notebook runner behind ``python -m paperlib``: run, list, report.

``run`` executes paper notebooks headless with papermill (kernel ``python3``, cwd ``notebooks/``,
one process per notebook, a total execution timeout per profile, one retry when a kernel fails
to start), writes the executed notebook to ``runs/<profile>/<slug>.ipynb`` and lets the notebook
write its results to ``<out>/<slug>/``. A content-hash cache skips a notebook whose inputs
(notebook source without outputs, parameters, paperlib sources, library versions, python version,
and the data manifests its last run used) are unchanged since its last successful run.

Everything here is importable without torch: the parent process only hashes files and reads
package versions through :mod:`importlib.metadata`, so a fully cached call returns in well under
a second.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import hashlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import REPO_ROOT
from .config import NOTEBOOK_PARAMS, PROFILES, ConfigError, validate_values
from .paths import data_home

#: packages whose versions enter the cache key (read with importlib.metadata, never imported)
VERSION_PACKAGES = ("torch", "torchvision", "timm", "numpy", "pycocotools", "lvis", "papermill", "matplotlib")
#: parameters a user may set with ``-p`` (profile has --profile, out_dir has --out)
CLI_PARAMS = ("seed", "device", "data_root", "overrides")
DEFAULT_PARAMS = {"seed": 0, "device": "auto", "data_root": None, "overrides": {}}
KERNEL_NAME = "python3"
KERNEL_START_TIMEOUT = 120
VERDICTS = ("held", "not held", "inconclusive")


class UsageError(ConfigError):
    """Refused before any kernel starts (exit code 2)."""


# --------------------------------------------------------------------------------------------
# locations


@dataclass
class Layout:
    """Where notebooks, runs, figures and the library live (tests point these at tmp dirs)."""

    root: Path = REPO_ROOT
    notebooks_dir: Path | None = None
    runs_dir: Path | None = None
    figures_dir: Path | None = None
    lib_dir: Path | None = None

    def __post_init__(self):
        self.root = Path(self.root)
        self.notebooks_dir = Path(self.notebooks_dir or self.root / "notebooks")
        self.runs_dir = Path(self.runs_dir or self.root / "runs")
        self.figures_dir = Path(self.figures_dir or self.root / "figures")
        self.lib_dir = Path(self.lib_dir or Path(__file__).resolve().parent)

    def notebook(self, slug: str) -> Path:
        return self.notebooks_dir / f"{slug}.ipynb"

    def executed(self, profile: str, slug: str) -> Path:
        return self.runs_dir / profile / f"{slug}.ipynb"

    def cache_file(self, profile: str, slug: str) -> Path:
        return self.runs_dir / profile / ".cache" / f"{slug}.json"

    def default_out(self, profile: str) -> Path:
        # paperlib.paths.default_out_dir's rule, for this (possibly relocated, in tests) layout
        return self.figures_dir if profile == "default" else self.runs_dir / profile / "figures"


def _rel(path: Path | str) -> str:
    path = Path(path)
    try:
        return os.path.relpath(path)
    except ValueError:  # other drive (windows)
        return str(path)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _registry(papers=None) -> dict:
    if papers is None:
        from .config import PAPERS

        papers = PAPERS
    return papers


# --------------------------------------------------------------------------------------------
# argument handling and validation (all before any kernel starts)


def parse_value(text: str) -> Any:
    """A JSON literal if it parses (``2``, ``0.1``, ``true``, ``null``, ``[1,2]``, ``{"a":1}``), else the string."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def parse_assignments(items: Iterable[str] | None, what: str) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise UsageError(f"{what} expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"{what} expects key=value, got {item!r}")
        out[key] = parse_value(value)
    return out


def resolve_slugs(names: Iterable[str], papers=None, layout: Layout | None = None) -> list[str]:
    """Map "01_resnext" / "resnext" / "01" / "1" to slugs; none = every paper with a notebook."""
    papers = _registry(papers)
    layout = layout or Layout()
    names = list(names or ())
    if not names:
        return [s for s in sorted(papers) if layout.notebook(s).exists()]
    slugs = []
    for name in names:
        name = str(name).strip()
        match = None
        for slug in sorted(papers):
            num, _, short = slug.partition("_")
            if name in (slug, short) or (name.isdigit() and num.isdigit() and int(name) == int(num)):
                match = slug
                break
        if match is None:
            raise UsageError(f"unknown paper {name!r}; valid: {', '.join(sorted(papers)) or '(none registered)'}")
        if not layout.notebook(match).exists():
            raise UsageError(f"{match}: notebook {_rel(layout.notebook(match))} does not exist")
        if match not in slugs:
            slugs.append(match)
    return slugs


def check_config(spec, profile: str, overrides: dict) -> Any:
    """The paper's Config for profile + overrides; ConfigError naming valid keys/choices otherwise."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile not in spec.profiles:
        raise UsageError(f"{spec.slug} has no profile {profile!r}; valid: {', '.join(spec.profiles)}")
    validate_values(spec, overrides)
    try:
        return spec.config_cls(**{**spec.profiles[profile], **overrides})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{spec.slug}: invalid config for profile {profile!r}: {e}") from e


def build_params(profile: str, params: dict | None = None, overrides: dict | None = None,
                 out_dir: str | None = None) -> dict:
    """The notebook parameters (all six), after checking names and types."""
    params = dict(params or {})
    if "profile" in params:
        raise UsageError("set the profile with --profile, not -p profile=...")
    if "out_dir" in params:
        raise UsageError("set the output folder with --out, not -p out_dir=...")
    unknown = sorted(set(params) - set(CLI_PARAMS))
    if unknown:
        raise UsageError(f"unknown notebook parameter(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(CLI_PARAMS)} (plus --profile, --out)")
    merged = {**DEFAULT_PARAMS, **params}
    ov = merged.get("overrides")
    if ov is None:
        ov = {}
    if not isinstance(ov, dict):
        raise UsageError(f"overrides must be a JSON object like '{{\"epochs\": 2}}', got {ov!r}")
    merged["overrides"] = {**ov, **(overrides or {})}
    seed = merged["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"seed must be an int, got {seed!r}")
    for name in ("device", "data_root"):
        if merged[name] is not None and not isinstance(merged[name], str):
            raise UsageError(f"{name} must be a string or null, got {merged[name]!r}")
    if not isinstance(merged["device"], str):
        raise UsageError("device must be a string such as 'auto', 'cpu' or 'cuda'")
    if merged["data_root"] is not None:
        merged["data_root"] = str(Path(merged["data_root"]).expanduser().resolve())
    out = {"profile": profile, **merged, "out_dir": out_dir}
    return {k: out[k] for k in NOTEBOOK_PARAMS}


# --------------------------------------------------------------------------------------------
# cache key


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def notebook_digest(path: Path) -> str:
    """Hash of the notebook's code and markdown, ignoring outputs, execution counts and metadata."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        cells.append([cell.get("cell_type"), src, sorted(cell.get("metadata", {}).get("tags", []))])
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return _sha(canonical_json({"cells": cells, "kernel": kernel}))


def library_digest(lib_dir: Path | None = None) -> str:
    """Hash of every paperlib/**/*.py (relative path + content), sorted by path."""
    lib_dir = Path(lib_dir or Path(__file__).resolve().parent)
    h = hashlib.sha256()
    for p in sorted(lib_dir.rglob("*.py"), key=lambda q: q.relative_to(lib_dir).as_posix()):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(lib_dir).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def library_versions() -> dict:
    out = {}
    for name in VERSION_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def key_parts(notebook: Path, params: dict, *, lib_dir: Path | None = None, lib_hash: str | None = None,
              versions: dict | None = None, python_version: str | None = None) -> dict:
    """The named inputs of the cache key (kept in the cache file to say what changed)."""
    return {
        "notebook": notebook_digest(notebook),
        "params": _sha(canonical_json(params)),
        "paperlib": lib_hash or library_digest(lib_dir),
        "versions": dict(sorted((versions if versions is not None else library_versions()).items())),
        "python": python_version or platform.python_version(),
    }


def cache_key(notebook: Path, params: dict, **kw) -> str:
    """sha256 over notebook source (outputs stripped), canonical parameters, paperlib sources,
    library versions and the python version. Data manifests are checked separately (see
    :func:`cache_status`) because they are only known after a run."""
    return _sha(canonical_json(key_parts(notebook, params, **kw)))


def _file_sha(path: Path) -> str | None:
    try:
        return _sha(Path(path).read_bytes())
    except OSError:
        return None




def _recorded_hash(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("hash", value.get("content_hash"))
    return value if isinstance(value, str) and not value.startswith("path:") else None


def _manifest_path(name: str, value: Any) -> Path | None:
    """Find the manifest.json behind a provenance["data"] entry, if it still exists.

    Understands {name: hash} with name a path or "<name>/<key>" under data_home(), and
    {name: {"hash": ..., "path"|"root"|"manifest": ...}}."""
    candidates = []
    if isinstance(value, dict):
        for k in ("manifest", "path", "root"):
            if isinstance(value.get(k), str):
                candidates.append(Path(value[k]))
    elif isinstance(value, str) and value.startswith("path:"):
        candidates.append(Path(value[5:]))
    candidates += [Path(name), data_home() / name]
    for c in candidates:
        c = c.expanduser()
        if c.is_dir():
            c = c / "manifest.json"
        if c.is_file() and c.name == "manifest.json":
            return c.resolve()
    return None


def _manifest_state(path: Path | None) -> str | None:
    """What identifies a manifest's data: its content_hash field, else the file's sha256."""
    if path is None:
        return None
    try:
        m = json.loads(Path(path).read_text())
        if isinstance(m, dict) and isinstance(m.get("content_hash"), str):
            return m["content_hash"]
    except (OSError, ValueError):
        pass
    return _file_sha(path)


def data_manifests(results: dict) -> dict:
    """provenance["data"] of a results.json -> {name: {hash, manifest, state}} for the cache entry."""
    data = (results.get("provenance") or {}).get("data") or {}
    out = {}
    if isinstance(data, dict):
        for name, value in sorted(data.items()):
            path = _manifest_path(str(name), value)
            out[str(name)] = {"hash": value, "manifest": str(path) if path else None,
                              "state": _manifest_state(path) or _recorded_hash(value)}
    return out


def _data_changed(data: dict) -> str | None:
    """A reason if a data manifest recorded by the last run still exists but now describes other data."""
    for name, rec in (data or {}).items():
        path = rec.get("manifest")
        if path and Path(path).exists() and _manifest_state(Path(path)) != rec.get("state"):
            return f"data {name!r} changed ({_rel(path)})"
    return None


def read_cache(layout: Layout, profile: str, slug: str) -> dict | None:
    try:
        return json.loads(layout.cache_file(profile, slug).read_text())
    except (OSError, ValueError):
        return None


def cache_status(entry: dict | None, key: str, parts: dict | None = None) -> tuple[bool, str]:
    """(up_to_date, reason) for a cache entry against the key (and its parts) of the run about to start."""
    if not entry:
        return False, "never run"
    if entry.get("status") != "ok":
        return False, f"last run {entry.get('status', '?')}"
    if entry.get("key") != key:
        old = entry.get("parts") or {}
        changed = [k for k in (parts or {}) if old.get(k) != parts[k]]
        return False, (", ".join(changed) + " changed") if changed else "changed"
    results = Path(entry.get("results", ""))
    if not results.is_file():
        return False, "results.json missing"
    if _file_sha(results) != entry.get("results_sha256"):
        return False, "results.json modified"
    changed = _data_changed(entry.get("data"))
    if changed:
        return False, changed
    return True, "unchanged"


# --------------------------------------------------------------------------------------------
# execution (in a worker process)


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
    pm.execute_notebook(input_path, output_path, parameters=parameters, kernel_name=KERNEL_NAME,
                        cwd=cwd, progress_bar=False, log_output=False, stdout_file=log,
                        stderr_file=log, start_timeout=KERNEL_START_TIMEOUT, **kw)


def _load_nb(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
    os.environ.update(job["env"])
    src, out = Path(job["input"]), Path(job["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix(".log")
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


# --------------------------------------------------------------------------------------------
# run


@dataclass
class Outcome:
    slug: str
    status: str  # ok | skipped | FAILED
    seconds: float = 0.0
    message: str = ""


def _kernel_env(layout: Layout) -> dict:
    pythonpath = os.environ.get("PYTHONPATH", "")
    root = str(Path(__file__).resolve().parents[1])
    return {
        "PAPERLIB_HEADLESS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": root + (os.pathsep + pythonpath if pythonpath else ""),
    }


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def prepare(slugs: Iterable[str] | None, profile: str, params: dict | None = None,
            overrides: dict | None = None, out: str | Path | None = None, *, papers=None,
            layout: Layout | None = None) -> list[dict]:
    """Validate everything and build one job per notebook; raises ConfigError (exit 2)."""
    papers = _registry(papers)
    layout = layout or Layout()
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    selected = resolve_slugs(slugs or (), papers, layout)
    default_out = layout.default_out(profile)
    out_path = Path(out).expanduser().resolve() if out else default_out.resolve()
    if profile == "ci" and _inside(out_path, layout.figures_dir):
        raise UsageError(f"the ci profile never writes into {_rel(layout.figures_dir)}/; "
                         f"choose another --out (default: {_rel(default_out)})")
    # the default output folder is passed as None so that provenance holds no machine paths
    out_param = None if out_path == default_out.resolve() and layout.root == REPO_ROOT else str(out_path)
    base = build_params(profile, params, overrides, out_param)
    jobs = []
    for slug in selected:
        spec = papers[slug]
        check_config(spec, profile, base["overrides"])
        timeout = (spec.timeout or {}).get(profile)
        jobs.append({
            "slug": slug, "profile": profile,
            "input": str(layout.notebook(slug).resolve()),
            "output": str(layout.executed(profile, slug).resolve()),
            "cwd": str(layout.notebooks_dir.resolve()),
            "params": base, "timeout": timeout, "env": _kernel_env(layout),
            "results": str(out_path / slug / "results.json"),
        })
    return jobs


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
            futures = {pool.submit(_execute_job, job): job for job in todo}
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
        _write_json(cache, entry)
        say(f"ok   {slug} in {_fmt_seconds(res['seconds'])} s -> {_rel(results.parent)}/")
        return Outcome(slug, "ok", res["seconds"])
    message = res.get("message", "failed")
    entry.update(status="failed", message=message, results=str(results))
    _write_json(cache, entry)
    where = f" — partial notebook at {_rel(job['output'])}" if Path(job["output"]).exists() else ""
    log = Path(job["output"]).with_suffix(".log")
    where += f" (log: {_rel(log)})" if log.exists() else ""
    say(f"FAILED {slug}: {message}{where}")
    return Outcome(slug, "FAILED", res["seconds"], message)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# list


def list_papers(papers=None, layout: Layout | None = None) -> str:
    """A table: paper, title, profiles, and the last run per profile (ok/FAILED, when, up to date?)."""
    papers = _registry(papers)
    layout = layout or Layout()
    versions, lib = library_versions(), library_digest(layout.lib_dir)
    rows = []
    for slug in sorted(papers):
        spec = papers[slug]
        nb = layout.notebook(slug)
        cells = []
        for prof in PROFILES:
            if prof not in spec.profiles:
                cells.append("n/a")
                continue
            entry = read_cache(layout, prof, slug)
            if not entry:
                cells.append("-")
            elif entry.get("status") == "ok":
                when = str(entry.get("finished_at", "?"))[:16]
                fresh = ""
                if nb.exists() and isinstance(entry.get("params"), dict):
                    parts = key_parts(nb, entry["params"], lib_hash=lib, versions=versions)
                    up, _ = cache_status(entry, _sha(canonical_json(parts)), parts)
                    fresh = "" if up else " (outdated)"
                cells.append(f"ok {when}{fresh}")
            else:
                cells.append(f"FAILED {str(entry.get('finished_at', '?'))[:16]}")
        title = spec.title if len(spec.title) <= 60 else spec.title[:57] + "..."
        if not nb.exists():
            title += " [no notebook]"
        rows.append([slug, title, ",".join(spec.profiles)] + cells)
    header = ["paper", "title", "profiles"] + list(PROFILES)
    if not rows:
        return "no papers registered (paperlib/configs/)"
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


# --------------------------------------------------------------------------------------------
# report


def _fmt_num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_num(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt_num(x)}" for k, x in v.items()) + "}"
    return str(v)


def _fmt_mapping(d: Any) -> str:
    if d is None or d == {}:
        return ""
    if isinstance(d, dict):
        return "; ".join(f"{k} = {_fmt_num(v)}" for k, v in d.items())
    return _fmt_num(d)


def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _verdict_kind(v: Any) -> str:
    s = str(v.get("verdict", v.get("label", "")) if isinstance(v, dict) else v).strip().lower()
    for kind in ("not held", "held", "inconclusive"):
        if s.startswith(kind):
            return kind
    return "other"


def _verdict_text(claim: dict) -> str:
    v = claim.get("verdict")
    if isinstance(v, dict):
        text = str(v.get("verdict", v.get("label", "")))
        reason = v.get("reason")
    else:
        text, reason = str(v), claim.get("reason")
    icon = {"held": "✅", "not held": "❌", "inconclusive": "➖"}.get(_verdict_kind(v), "")
    return f"{icon} {text}".strip() + (f" ({reason})" if reason and reason not in text else "")


def _wall(sec: Any) -> str:
    try:
        sec = float(sec)
    except (TypeError, ValueError):
        return "?"
    if sec < 60:
        return f"{sec:.0f} s"
    m, s = divmod(int(round(sec)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def _provenance_line(prov: dict) -> str:
    bits = []
    commit = prov.get("git_commit")
    if commit:
        bits.append(f"commit `{str(commit)[:10]}`" + (" (dirty)" if prov.get("dirty") else ""))
    date = next((prov[k] for k in ("date", "finished_at", "finished", "timestamp", "started_at") if prov.get(k)), None)
    if date:
        bits.append(str(date))
    if "wall_seconds" in prov:
        bits.append(f"wall time {_wall(prov['wall_seconds'])}")
    if prov.get("device"):
        bits.append(f"device {prov['device']}")
    if "seed" in prov:
        bits.append(f"seed {prov['seed']}")
    if prov.get("param_hash"):
        bits.append(f"params `{str(prov['param_hash'])[:10]}`")
    versions = prov.get("versions") or {}
    if isinstance(versions, dict):
        vs = [f"{k} {v}" for k, v in versions.items() if v and k in ("python", "torch", "torchvision", "timm")]
        if vs:
            bits.append(", ".join(vs))
    return "Provenance: " + (" · ".join(bits) if bits else "none recorded")


def _artifact_lines(slug: str, artifacts: list) -> list[str]:
    lines, tables, others = [], [], []
    for a in artifacts or []:
        a = str(a)
        link = f"{slug}/{a}"
        if a.lower().endswith((".png", ".jpg", ".jpeg", ".svg", ".gif")):
            lines.append(f"![{Path(a).stem}]({link})")
            lines.append("")
        elif a.lower().endswith(".md"):
            tables.append(f"[{Path(a).stem}]({link})")
        elif a.lower().endswith(".csv"):
            tables.append(f"[{Path(a).name}]({link})")
        else:
            others.append(f"[{a}]({link})")
    head = []
    if tables:
        head.append("Tables: " + " · ".join(tables))
        head.append("")
    if others:
        head.append("Other files: " + " · ".join(others))
        head.append("")
    return head + lines


def render_report(figures_dir: Path | None = None, papers=None) -> str:
    """figures/README.md text from figures/*/results.json (deterministic: no clock, sorted)."""
    figures_dir = Path(figures_dir or Layout().figures_dir)
    try:
        papers = _registry(papers)
    except Exception:  # pragma: no cover - a broken config module must not block the report
        papers = {}
    results = {}
    for path in sorted(figures_dir.glob("*/results.json")):
        try:
            results[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            results[path.parent.name] = {"_error": f"unreadable results.json: {e}"}
    slugs = sorted(set(results) | set(papers))

    def title(slug):
        spec = papers.get(slug) if hasattr(papers, "get") else None
        if spec is not None:
            return spec.title
        return str((results.get(slug) or {}).get("title") or slug)

    out = ["# Reproduced results", "",
           "Generated from `figures/*/results.json` by `python -m paperlib report` "
           "(also at the end of `python -m paperlib run --profile default` / `make reproduce`). "
           "Do not edit by hand: every number, table and figure below comes from the notebooks.", "",
           "Verdicts are computed by each notebook from its own numbers: **held**, **not held** or "
           "**inconclusive** (for instance a difference inside seed noise, or a scale too small to show it).",
           "", "## Summary", "",
           "| paper | title | profile | held | not held | inconclusive | wall time |",
           "|---|---|---|---:|---:|---:|---:|"]
    for slug in slugs:
        r = results.get(slug)
        if r is None:
            out.append(f"| {slug} | {_cell(title(slug))} | not run yet | | | | |")
            continue
        if "_error" in r:
            out.append(f"| [{slug}](#{slug}) | {_cell(title(slug))} | error | | | | |")
            continue
        counts = {k: 0 for k in VERDICTS}
        for c in r.get("claims") or []:
            kind = _verdict_kind(c.get("verdict"))
            if kind in counts:
                counts[kind] += 1
        prov = r.get("provenance") or {}
        out.append(f"| [{slug}](#{slug}) | {_cell(title(slug))} | {_cell(r.get('profile', prov.get('profile', '?')))} | "
                   f"{counts['held']} | {counts['not held']} | {counts['inconclusive']} | "
                   f"{_wall(prov.get('wall_seconds')) if 'wall_seconds' in prov else ''} |")
    out.append("")
    for slug in slugs:
        r = results.get(slug)
        if r is None:
            continue
        out += [f'<a id="{slug}"></a>', "", f"## {slug} — {title(slug)}", ""]
        if "_error" in r:
            out += [f"⚠️ {r['_error']}", ""]
            continue
        prov = r.get("provenance") or {}
        out += [f"Profile `{r.get('profile', prov.get('profile', '?'))}` · "
                f"[results.json]({slug}/results.json) · notebook [`notebooks/{slug}.ipynb`](../notebooks/{slug}.ipynb)", ""]
        claims = r.get("claims") or []
        if claims:
            out += ["| id | claim | verdict | our evidence | paper |", "|---|---|---|---|---|"]
            for c in claims:
                out.append(f"| {_cell(c.get('id', ''))} | {_cell(c.get('statement', ''))} | "
                           f"{_cell(_verdict_text(c))} | {_cell(_fmt_mapping(c.get('evidence')))} | "
                           f"{_cell(_fmt_mapping(c.get('paper')))} |")
            out.append("")
        else:
            out += ["No claims recorded.", ""]
        notes = r.get("notes") or []
        if notes:
            out += ["Notes:", ""] + [f"- {str(n).strip()}" for n in notes] + [""]
        out += _artifact_lines(slug, r.get("artifacts") or [])
        out += [_provenance_line(prov), ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(figures_dir: Path | None = None, papers=None) -> Path:
    figures_dir = Path(figures_dir or Layout().figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / "README.md"
    text = render_report(figures_dir, papers)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# notebook hygiene (used by tests/test_notebook_hygiene.py)


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and all(_is_literal(v) for v in node.values)
    return False


def hygiene_problems(path: Path, papers=None) -> list[str]:
    """Everything wrong with a committed notebook (empty list = clean)."""
    problems = []
    nb = _load_nb(Path(path))
    if nb is None:
        return [f"{path}: not a readable notebook"]
    slug = Path(path).stem
    if slug not in _registry(papers):
        problems.append(f"slug {slug!r} is not registered in paperlib.configs (PAPERS)")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != KERNEL_NAME:
        problems.append(f"kernelspec name must be {KERNEL_NAME!r}, "
                        f"got {nb.get('metadata', {}).get('kernelspec', {}).get('name')!r}")
    cells = nb.get("cells", [])
    for i, c in enumerate(cells, 1):
        if c.get("cell_type") != "code":
            continue
        if c.get("outputs"):
            problems.append(f"cell {i}: outputs not stripped")
        if c.get("execution_count") is not None:
            problems.append(f"cell {i}: execution_count is {c.get('execution_count')}, expected null")
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for ln in src.splitlines():
            s = ln.strip()
            if s.startswith(("!pip", "%pip", "!conda", "%conda", "!python -m pip", "%%pip")):
                problems.append(f"cell {i}: installs packages ({s[:40]!r}); no pip in notebooks")
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    if len(tagged) != 1:
        problems.append(f"expected exactly one cell tagged 'parameters', found {len(tagged)}")
        return problems
    p = tagged[0]
    if not code or code[0] != p:
        problems.append("the 'parameters' cell must be the first code cell")
    src = cells[p].get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        problems.append(f"parameters cell does not parse: {e}")
        return problems
    names = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            problems.append(f"parameters cell line {node.lineno}: only `name = literal` assignments allowed")
            continue
        if not _is_literal(node.value):
            problems.append(f"parameters cell: {node.targets[0].id} is not a literal")
        names.append(node.targets[0].id)
    if sorted(names) != sorted(NOTEBOOK_PARAMS):
        problems.append(f"parameters cell must assign exactly {', '.join(NOTEBOOK_PARAMS)} once each; got {', '.join(names)}")
    return problems


# --------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m paperlib", description="Run, list and report the paper notebooks.")
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run notebooks headless with papermill (cached)",
                       description="Run paper notebooks with papermill. SLUG: 01_resnext, resnext or 01; "
                                   "none = every paper with a notebook.")
    r.add_argument("slugs", nargs="*", metavar="SLUG")
    r.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)} (default: default)")
    r.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"notebook parameter ({', '.join(CLI_PARAMS)}); VALUE is a JSON literal, else a string. "
                        "e.g. -p seed=1 -p overrides='{\"epochs\": 2}'")
    r.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="one config override merged into overrides, e.g. -o epochs=2 -o lr=0.05")
    r.add_argument("--out", default=None, metavar="DIR",
                   help="results folder (DIR/<slug>/); default figures/ for default, runs/<profile>/figures otherwise")
    r.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run in parallel (default 1)")
    r.add_argument("--force", action="store_true", help="run even if the cache says unchanged")
    r.add_argument("--no-report", action="store_true", help="do not regenerate figures/README.md")

    sub.add_parser("list", help="papers, profiles and the status of their last runs")
    rep = sub.add_parser("report", help="regenerate figures/README.md from figures/*/results.json")
    rep.add_argument("--figures", default=None, metavar="DIR", help="figures folder (default figures/)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            if args.jobs < 1:
                raise UsageError("--jobs must be >= 1")
            params = parse_assignments(args.param, "-p")
            overrides = parse_assignments(args.override, "-o")
            return run_papers(args.slugs, args.profile, params, overrides, args.out, args.jobs, args.force,
                              report=False if args.no_report else None)
        if args.command == "list":
            print(list_papers())
            return 0
        if args.command == "report":
            path = write_report(Path(args.figures) if args.figures else None)
            print(f"wrote {_rel(path)}")
            return 0
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
