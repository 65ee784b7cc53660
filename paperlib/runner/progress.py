"""Live progress of the notebooks running in the pool: paper, section, cell i/N, elapsed, time left.

The worker's nbclient hook (:func:`.execute.progress_hook`) appends one JSON line per cell to a
progress file; a thread of the parent process reads those files twice a second. On a terminal each
running notebook has a tqdm bar updated in place; otherwise (CI, a log file) one plain line is printed
per section, never a carriage return. ``verbose`` also streams each notebook's own log lines.
The estimate of the time left comes from the per-cell durations of the last successful run
(kept in the cache entry), when the notebook still has the same number of cells.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path


def clock(seconds: float) -> str:
    seconds = int(max(0, round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cell_seconds(executed_nb: dict) -> list[float]:
    """Per-cell wall times papermill recorded in an executed notebook (0 where none)."""
    out = []
    for c in executed_nb.get("cells", []):
        d = c.get("metadata", {}).get("papermill", {}).get("duration")
        out.append(float(d) if isinstance(d, (int, float)) else 0.0)
    return out


def time_left(past: list[float] | None, cell: int, of: int, in_cell: float) -> float | None:
    """Seconds left: the last run's times of this cell (less what it has run) and of the cells after it."""
    if not past or len(past) != of or not 1 <= cell <= of:
        return None
    return max(0.0, past[cell - 1] - in_cell) + sum(past[cell:])


class _Tail:
    """New complete lines of a growing file."""

    def __init__(self, path: Path):
        self.path, self.pos, self.buf = Path(path), 0, ""

    def lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except OSError:
            return []
        self.buf += data
        *done, self.buf = self.buf.split("\n")
        return done


class Monitor:
    """Follows jobs' progress files while they run (start with `with Monitor(...)`)."""

    def __init__(self, jobs: list[dict], say, tty: bool = False, verbose: bool = False, interval: float = 0.5):
        self.say, self.tty, self.verbose, self.interval = say, tty, verbose, interval
        self.state = {j["slug"]: {"job": j, "events": _Tail(j["progress"]), "log": _Tail(j["log"]),
                                  "start": None, "cell": 0, "of": 0, "heading": None, "cell_t": None,
                                  "bar": None, "done": False} for j in jobs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._lock = threading.Lock()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for slug in self.state:
            self.done(slug)

    def done(self, slug: str) -> None:
        """The job finished: read its last events, close its bar (before the outcome is printed)."""
        with self._lock:
            st = self.state[slug]
            if st["done"]:
                return
            self._poll(slug, st)
            st["done"] = True
            if st["bar"] is not None:
                st["bar"].close()
                st["bar"] = None

    def _loop(self):
        while not self._stop.wait(self.interval):
            with self._lock:
                for slug, st in self.state.items():
                    if not st["done"]:
                        self._poll(slug, st)

    def _poll(self, slug: str, st: dict) -> None:
        if self.verbose:
            for ln in st["log"].lines():
                self._print(f"[{slug}] {ln}")
        changed = False
        for ln in st["events"].lines():
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            st["start"] = st["start"] or ev["t"]
            st["cell"], st["of"], st["cell_t"] = ev["cell"], ev["of"], ev["t"]
            if ev.get("heading") and ev["heading"] != st["heading"]:
                st["heading"] = ev["heading"]
                if not self.tty:
                    self.say(self._line(slug, st))
            changed = True
        if self.tty and st["start"] is not None and (changed or True):
            self._bar(slug, st)

    def _line(self, slug: str, st: dict) -> str:
        now = time.time()
        left = time_left(st["job"].get("past_cell_seconds"), st["cell"], st["of"], now - (st["cell_t"] or now))
        eta = f", ~{clock(left)} left" if left is not None else ""
        return (f"[{slug}] {st['heading'] or '(start)'} — cell {st['cell']}/{st['of']}, "
                f"{clock(now - st['start'])} elapsed{eta}")

    def _bar(self, slug: str, st: dict) -> None:
        from tqdm.auto import tqdm

        if st["bar"] is None:
            pos = list(self.state).index(slug)
            st["bar"] = tqdm(total=st["of"], position=pos, leave=False, dynamic_ncols=True,
                             bar_format="{desc} |{bar}| {n}/{total}")
        st["bar"].n = st["cell"]
        st["bar"].set_description_str(self._line(slug, st), refresh=True)

    def _print(self, text: str) -> None:
        if self.tty:
            from tqdm.auto import tqdm

            tqdm.write(text)
        else:
            self.say(text)
