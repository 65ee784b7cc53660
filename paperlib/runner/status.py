"""The status of runs: the summary table printed at the end of `run`, and `python -m paperlib list`."""
from __future__ import annotations

from ..config import PROFILES, ConfigError
from .cache import _sha, cache_status, canonical_json, key_parts, library_digest, library_versions, read_cache
from .common import VERDICTS, Layout, _registry, _rel


def _table(header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _status_text(status: str, entry: dict | None) -> str:
    if status == "skipped":
        return "skipped (unchanged)"
    if status in ("ok", "submitted"):
        return status
    cell = (entry or {}).get("failed_cell")
    return f"FAILED at cell {cell}" if cell else "FAILED"


def summary_table(rows: list[tuple[str, str, dict | None]]) -> str:
    """paper | status | held | not held | inconclusive | wall | outputs | executed notebook.

    rows: (slug, status "ok" | "skipped" | "FAILED" | "failed", the run's cache entry or None)."""
    out = []
    for slug, status, entry in rows:
        entry = entry or {}
        counts = entry.get("verdicts") or {}
        wall = entry.get("seconds")
        out.append([slug, _status_text(status, entry)]
                   + [counts.get(k, "") if counts else "" for k in VERDICTS]
                   + [f"{wall:.1f} s" if isinstance(wall, (int, float)) else "",
                      _rel(entry["outputs"]) + "/" if entry.get("outputs") else "",
                      _rel(entry["notebook"]) if entry.get("notebook") else ""])
    return _table(["paper", "status", "held", "not held", "inconclusive", "wall", "outputs", "executed notebook"], out)


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
                    try:
                        parts = key_parts(nb, entry["params"], lib_hash=lib, versions=versions)
                        up, _ = cache_status(entry, _sha(canonical_json(parts)), parts)
                        fresh = "" if up else " (outdated)"
                    except ConfigError:
                        fresh = " (notebook unreadable)"
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
    text = _table(header, rows)
    for prof in PROFILES:
        last = [(slug, read_cache(layout, prof, slug)) for slug in sorted(papers)]
        last = [(slug, e.get("status", "?"), e) for slug, e in last if e]
        if last:
            text += f"\n\nlast runs, profile {prof}:\n" + summary_table(last)
    return text

