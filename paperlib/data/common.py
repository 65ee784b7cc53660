"""Where data lives, and the one cache every generated dataset goes through.

Generated data is written once under ``data_home()/<name>/<key>/`` (``key`` = hash of the generator
parameters and version), atomically (into a temporary folder, then renamed), guarded by a file lock
so parallel notebooks do not generate it twice, and described by ``manifest.json``: the parameters,
the file list and a content hash. The content hash enters provenance and the runner's cache key.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from ..paths import data_home

MANIFEST = "manifest.json"

#: data folders used by this process ("name/key" -> {"hash", "path"}), filled by :func:`record_use`;
#: the recorder copies it into results.json's provenance (data sits below record: it only writes here)
DATA_USED: dict[str, dict] = {}


def _key(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def content_hash(root: Path, exclude=(MANIFEST,)) -> tuple[str, int]:
    """sha256 over sorted relative paths and file bytes. Returns (hexdigest, number of files)."""
    h = hashlib.sha256()
    n = 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in exclude:
            rel = p.relative_to(root).as_posix()
            h.update(rel.encode() + b"\0")
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            n += 1
    return h.hexdigest(), n


def read_manifest(root) -> dict:
    return json.loads((Path(root) / MANIFEST).read_text())


def manifest_hash(root) -> str | None:
    p = Path(root) / MANIFEST
    return json.loads(p.read_text())["content_hash"] if p.exists() else None


def record_use(name: str, root: Path) -> None:
    """Note in this process's provenance (:data:`DATA_USED`) that `root` (with its manifest hash) was used."""
    root = Path(root)
    DATA_USED[f"{name}/{root.name}"] = {"hash": manifest_hash(root), "path": str(root)}


def generated_dataset(name: str, params: dict, generate: Callable[[Path], None], *, version: int = 1,
                      root: Path | None = None, verbose: bool = True) -> Path:
    """Return the folder of dataset `name` generated with `params`, generating it once if needed.

    `generate(tmp_dir)` writes the files; it must be deterministic in `params` (seeded)."""
    from filelock import FileLock

    params = {**params, "_generator_version": version}
    home = Path(root) if root else data_home()
    target = home / name / _key(params)
    if (target / MANIFEST).exists():
        record_use(name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / MANIFEST).exists():
            t0 = time.time()
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            if verbose:
                print(f"[paperlib.data] generating {name} -> {target}", flush=True)
            try:
                generate(tmp)
                digest, n = content_hash(tmp)
                (tmp / MANIFEST).write_text(json.dumps(
                    {"name": name, "params": params, "files": n, "content_hash": digest,
                     "seconds": round(time.time() - t0, 2)}, indent=2, sort_keys=True) + "\n")
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if verbose:
                print(f"[paperlib.data] {name}: {n} files in {time.time() - t0:.1f}s", flush=True)
    record_use(name, target)
    return target


def read_json(path, what: str = "json file", expected: str = ""):
    """Parse the JSON file at `path`; a missing, unreadable or malformed file (e.g. truncated by an
    interrupted download) raises ValueError / FileNotFoundError naming the path, what the file is
    and, if given, the `expected` layout."""
    path = Path(path)
    hint = f"; expected {expected}" if expected else ""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist{hint}")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        size = path.stat().st_size
        raise ValueError(f"{what} {path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}, "
                         f"file size {size} bytes; truncated or corrupt?){hint}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {path} is not UTF-8 JSON text ({e.reason} at byte {e.start}){hint}") from None


def require_keys(data, keys, path, what: str = "json file") -> None:
    """`data` (parsed from `path`) must be a dict holding every key in `keys`; else ValueError naming
    the file, the missing keys and the required ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: expected a JSON object with keys {', '.join(map(repr, keys))}, "
                         f"got a JSON {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{what} {path} lacks the required key(s) {', '.join(map(repr, missing))} "
                         f"(required: {', '.join(map(repr, keys))})")


def require_layout(root, expected: list[str], dataset: str, layout_doc: str) -> Path:
    """Check that `root` contains the `expected` relative paths; else raise with the expected layout."""
    if root is None:
        raise FileNotFoundError(f"{dataset}: data_root is None; expected layout:\n{layout_doc}")
    root = Path(root).expanduser()
    missing = [e for e in expected if not (root / e).exists()]
    if missing:
        raise FileNotFoundError(
            f"{dataset}: {root} is missing {', '.join(missing)}; expected layout:\n{layout_doc}")
    return root
