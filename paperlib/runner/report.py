"""figures/README.md from figures/*/results.json."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .common import VERDICTS, Layout, _registry


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


def verdict_counts(results: dict) -> dict:
    """{"held": n, "not held": n, "inconclusive": n} over a results.json's claims."""
    counts = {k: 0 for k in VERDICTS}
    for c in results.get("claims") or []:
        kind = _verdict_kind(c.get("verdict"))
        if kind in counts:
            counts[kind] += 1
    return counts


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
        if path.parent.name.startswith(".") or path.parent.name.endswith(".failed"):
            continue  # a run's staging folder or a failed run's partial outputs: never reported
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
        counts = verdict_counts(r)
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
    out += _agreement_lines(figures_dir, results)
    return "\n".join(out).rstrip() + "\n"


AGREEMENT_DIR = "agreement"


def _agreement_lines(figures_dir: Path, results: dict) -> list[str]:
    """The verdict agreement between seeds (figures/agreement/<slug>.json: the compare.json that
    ``run --compare figures/`` wrote, copied here), with a line for each comparison whose reference run
    has been regenerated since (then it no longer speaks for the committed verdicts)."""
    from .compare import agreement_markdown, stale_reason

    files = sorted((figures_dir / AGREEMENT_DIR).glob("*.json"))
    if not files:
        return []
    cmps, stale = [], []
    for f in files:
        try:
            cmp = json.loads(f.read_text(encoding="utf-8"))
        except ValueError as e:
            stale.append(f"- {f.name}: unreadable ({e})")
            continue
        cmps.append(cmp)
        why = stale_reason(cmp, results.get(f.stem))
        if why:
            stale.append(f"- {f.stem}: {why}")
    out = ["", agreement_markdown(cmps).rstrip(), ""] if cmps else [""]
    if stale:
        out += ["Comparisons that no longer match the committed reference run:", ""] + stale + [""]
    return out


def write_report(figures_dir: Path | None = None, papers=None) -> Path:
    figures_dir = Path(figures_dir or Layout().figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / "README.md"
    text = render_report(figures_dir, papers)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path

