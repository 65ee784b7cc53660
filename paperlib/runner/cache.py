"""The content-hash cache key of a notebook run and the cache entries of past runs."""
from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from ..paths import data_home
from ..versions import versions
from .common import Layout, UsageError, _rel


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def notebook_digest(path: Path) -> str:
    """Hash of the notebook's code and markdown, ignoring outputs, execution counts and metadata."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{_rel(path)} is not a readable notebook ({type(e).__name__}: {e}); "
                         f"restore it, e.g. `git checkout -- {_rel(path)}`") from None
    if not isinstance(nb, dict):
        raise UsageError(f"{_rel(path)} is not a readable notebook (a JSON object expected)")
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
    lib_dir = Path(lib_dir or Path(__file__).resolve().parents[1])
    h = hashlib.sha256()
    for p in sorted(lib_dir.rglob("*.py"), key=lambda q: q.relative_to(lib_dir).as_posix()):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(lib_dir).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def library_versions() -> dict:
    """Versions of the packages that enter the key (python separately), without importing them."""
    return versions(python=False)


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

