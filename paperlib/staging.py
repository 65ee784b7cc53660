"""Output folders that change only all at once: a lock per folder, a private staging folder, one swap.

A run writes everything into its own staging folder beside the final one
(``<out>/.<slug>.staging-<pid>-<hex>/``) and replaces ``<out>/<slug>/`` only when it succeeds
(:meth:`Output.publish`, called by ``Run.finalize()``, the notebook's last cell, so interactive runs
get it too). A run that fails or is killed leaves the last good ``<out>/<slug>/`` byte-identical;
its partial outputs are moved beside it into ``<out>/<slug>.failed/`` with a ``FAILED.txt`` saying
why (by the runner at once, or by the next run that finds the staging folder of a dead process).

One run at a time per folder: ``<out>/.<slug>.lock`` is held with ``fcntl.flock`` (released by the
kernel when the holding process dies, so a lock left by a killed run is simply taken over) and holds
the holder's pid, host and command for the message that refuses a second run; it is removed on release. The headless runner
takes the lock before starting a kernel and hands it to the notebook through two environment
variables (``PAPERLIB_OUT_TOKEN``, ``PAPERLIB_STAGING``); an interactive ``Run`` takes it itself.

Import-light (standard library only): the runner uses it before any kernel starts.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; the lock is then advisory only
    fcntl = None

TOKEN_ENV = "PAPERLIB_OUT_TOKEN"
STAGING_ENV = "PAPERLIB_STAGING"
FAILED_NOTE = "FAILED.txt"

#: locks held by this process: lock path -> (file object, token)
_HELD: dict[str, tuple] = {}


class OutputLocked(RuntimeError):
    """Another live process is writing into the same output folder."""


def lock_path(final: Path) -> Path:
    final = Path(final)
    return final.parent / f".{final.name}.lock"


def failed_dir(final: Path) -> Path:
    final = Path(final)
    return final.parent / f"{final.name}.failed"


def new_staging(final: Path) -> Path:
    final = Path(final)
    return final.parent / f".{final.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _stagings(final: Path) -> list[Path]:
    final = Path(final)
    return sorted(final.parent.glob(f".{final.name}.staging-*"))


def _read_holder(path: Path) -> dict:
    try:
        info = json.loads(Path(path).read_text() or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def acquire(final: Path, token: str | None = None) -> tuple[str, dict]:
    """Take the lock of ``final``; returns (token, info about a previous holder that died, or {}).

    Raises :class:`OutputLocked` naming the live holder (pid, host, command, since when)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(final)
    key = str(path.resolve())
    if key in _HELD:  # re-entrant within one process (a notebook cell re-run in JupyterLab)
        return _HELD[key][1], {}
    while True:
        f = open(path, "a+")
        if fcntl is None:
            break
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            h = _read_holder(path)
            raise OutputLocked(
                f"{final} is being written by another run: pid {h.get('pid', '?')} on host {h.get('host', '?')} "
                f"since {h.get('since', '?')} ({h.get('command', '?')}); wait for it to finish or stop that "
                f"process (lock file {path})") from None
        try:  # the holder before us may have removed the file between our open and our flock: retry
            if os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    previous = _read_holder(path)
    token = token or uuid.uuid4().hex
    info = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
            "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "command": " ".join(sys.argv)[:200]}
    f.seek(0)
    f.truncate()
    f.write(json.dumps(info))
    f.flush()
    _HELD[key] = (f, token)
    return token, previous


def release(final: Path) -> None:
    key = str(lock_path(final).resolve())
    held = _HELD.pop(key, None)
    if held:
        try:
            os.unlink(key)  # while still locked: a waiter that opened it sees another inode and retries
        except FileNotFoundError:
            pass
        held[0].close()  # closing the descriptor releases the flock


def holds_token(final: Path, token: str | None) -> bool:
    """Whether the lock file names ``token`` (the runner holds the lock on this kernel's behalf)."""
    return bool(token) and _read_holder(lock_path(final)).get("token") == token


def mark_failed(final: Path, staging: Path | None, message: str) -> Path:
    """Move a run's partial outputs beside ``final`` as ``<slug>.failed/`` with FAILED.txt; returns it."""
    final = Path(final)
    target = failed_dir(final)
    if target.exists():
        shutil.rmtree(target)
    if staging is not None and Path(staging).is_dir():
        os.rename(staging, target)
    else:
        target.mkdir(parents=True)
    (target / FAILED_NOTE).write_text(
        f"This run FAILED; these are its partial outputs. The last good outputs, if any, are in {final.name}/.\n"
        f"when: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\nwhy: {message}\n")
    return target


def recover(final: Path) -> list[Path]:
    """Mark the staging folders of earlier runs that died (call with the lock held)."""
    return [mark_failed(final, s, f"killed or crashed before finishing (staging folder {s.name} left behind)")
            for s in _stagings(final)]


def recover_if_free(final: Path) -> list[Path]:
    """recover() when no live run holds the lock (a skipped, cached run still marks a killed run's leftovers)."""
    if not _stagings(final):
        return []
    try:
        acquire(final)
    except OutputLocked:
        return []
    try:
        return recover(final)
    finally:
        release(final)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), ctypes.c_uint(rename_exchange))
    return rc == 0


def publish(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` in one step, then drop the old outputs and any failed marker."""
    staging, final = Path(staging), Path(final)
    if not final.exists():
        os.rename(staging, final)
    elif _exchange(staging, final):
        shutil.rmtree(staging)  # now holds the previous outputs
    else:  # pragma: no cover - non-Linux fallback: a short window without final
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old)
    if failed_dir(final).exists():
        shutil.rmtree(failed_dir(final))


class Output:
    """The output folder of one run: ``dir`` to write into now, ``final`` where it ends up.

    Under the headless runner (environment variables set, lock held by the runner) it uses the
    runner's staging folder; otherwise it takes the lock itself and makes its own."""

    def __init__(self, base: Path, slug: str):
        self.final = Path(base) / slug
        self.final.parent.mkdir(parents=True, exist_ok=True)
        token, staging = os.environ.get(TOKEN_ENV), os.environ.get(STAGING_ENV)
        self.own_lock = not (staging and Path(staging).parent.resolve() == self.final.parent.resolve()
                             and Path(staging).name.startswith(f".{slug}.staging-") and holds_token(self.final, token))
        if self.own_lock:
            acquire(self.final)
            recover(self.final)
            self.dir = new_staging(self.final)
        else:
            self.dir = Path(staging)
        self.dir.mkdir(parents=True, exist_ok=True)

    def publish(self) -> Path:
        publish(self.dir, self.final)
        if self.own_lock:
            release(self.final)
        return self.final
