"""`python -m paperlib list`: papers, profiles and their last runs."""
from __future__ import annotations

from ..config import PROFILES
from .cache import _sha, cache_status, canonical_json, key_parts, library_digest, library_versions, read_cache
from .common import Layout, _registry


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

