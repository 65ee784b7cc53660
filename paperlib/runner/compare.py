"""Verdict agreement between two runs of a notebook (e.g. seed 0 in figures/ and a rerun at seed 1).

    python -m paperlib run 02_fpn --profile default -p seed=1 --out DIR --compare figures/

after the run reads DIR/<slug>/results.json and figures/<slug>/results.json, prints one row per claim
(claim, verdict at the reference seed, at this seed, agree?, reconciled verdict) and writes the
comparison to DIR/<slug>/compare.json. The reconciled verdict follows the rule "a verdict that differs
between seeds is inconclusive at both" (:func:`paperlib.metrics.stats.reconcile`).
:func:`agreement_markdown` renders several notebooks' comparisons for figures/README.md.

Import-light like the rest of the runner: the statistics module is imported only when a comparison runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterable, Sequence

from .common import _rel, write_json

COMPARE_FILE = "compare.json"
ICON = {"held": "✅", "not held": "❌", "inconclusive": "➖"}


def _verdict(claim: dict) -> str:
    """The verdict word of a results.json claim (``verdict`` is a string, or a dict in older files)."""
    v = claim.get("verdict")
    if isinstance(v, dict):
        v = v.get("verdict", v.get("label"))
    return str(v).strip().lower() if v is not None else "missing"


def _seed(results: dict):
    prov = results.get("provenance") or {}
    params = prov.get("parameters") if isinstance(prov.get("parameters"), dict) else {}
    return prov.get("seed", params.get("seed"))


def load_results(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file {_rel(path)} (run the notebook there first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{_rel(path)} is not valid JSON: {e}") from None


def compare_results(ref: dict, new: dict, *, slug: str | None = None) -> dict:
    """One row per claim of either run (reference order first): the verdict in each, whether they agree and
    the reconciled verdict (differing -> inconclusive; a claim missing from one run is 'missing' there and
    does not agree)."""
    from ..metrics.stats import reconcile

    ref_seed, new_seed = _seed(ref), _seed(new)
    ref_claims = {str(c.get("id")): c for c in ref.get("claims") or []}
    new_claims = {str(c.get("id")): c for c in new.get("claims") or []}
    rows = []
    for cid in list(ref_claims) + [c for c in new_claims if c not in ref_claims]:
        a = _verdict(ref_claims[cid]) if cid in ref_claims else "missing"
        b = _verdict(new_claims[cid]) if cid in new_claims else "missing"
        if "missing" in (a, b):
            rec = {"verdict": "inconclusive", "agree": False}
        else:
            rec = reconcile({"reference": a, "this run": b})
        rows.append({"claim": cid, "reference": a, "this_run": b, "agree": rec["agree"],
                     "reconciled": rec["verdict"]})
    return {"paper": slug or new.get("paper") or ref.get("paper"),
            "profile": {"reference": ref.get("profile"), "this_run": new.get("profile")},
            "seed": {"reference": ref_seed, "this_run": new_seed},
            "n_claims": len(rows), "n_agree": sum(r["agree"] for r in rows), "rows": rows}


def format_table(cmp: dict) -> str:
    """The comparison as a markdown table (what the command prints)."""
    s = cmp["seed"]
    head = (f"{cmp['paper']}: verdict agreement, seed {s['reference']} (reference) vs seed {s['this_run']} "
            f"(this run): {cmp['n_agree']} of {cmp['n_claims']} claims agree")
    lines = [head, "", f"| claim | seed {s['reference']} (reference) | seed {s['this_run']} (this run) | agree? | "
                       "verdict by the rule |", "|---|---|---|---|---|"]
    for r in cmp["rows"]:
        lines.append(f"| {r['claim']} | {ICON.get(r['reference'], '')} {r['reference']} | "
                     f"{ICON.get(r['this_run'], '')} {r['this_run']} | {'yes' if r['agree'] else '**no**'} | "
                     f"{r['reconciled']} |")
    return "\n".join(lines)


def compare_run(slug: str, out_dir: Path, ref_dir: Path) -> dict:
    """Compare ``out_dir/<slug>/results.json`` with ``ref_dir/<slug>/results.json``; writes
    ``out_dir/<slug>/compare.json`` and returns the comparison."""
    new_path, ref_path = Path(out_dir) / slug / "results.json", Path(ref_dir) / slug / "results.json"
    if new_path.resolve() == ref_path.resolve():
        raise ValueError(f"--compare {_rel(ref_dir)} is the run's own output folder: nothing to compare with")
    ref = load_results(ref_path)
    cmp = compare_results(ref, load_results(new_path), slug=slug)
    cmp["files"] = {"reference": _rel(ref_path), "this_run": _rel(new_path)}
    # which reference run this is: the report flags a comparison whose reference was regenerated since
    cmp["reference_commit"] = (ref.get("provenance") or {}).get("git_commit")
    write_json(Path(out_dir) / slug / COMPARE_FILE, cmp)
    return cmp


def compare_runs(slugs: Iterable[str], out_dir: Path, ref_dir: Path, stream=None) -> int:
    """:func:`compare_run` for every slug, printing each table; 0 when every comparison could be made."""
    stream = stream or sys.stdout
    rc = 0
    for slug in slugs:
        try:
            cmp = compare_run(slug, out_dir, ref_dir)
        except (FileNotFoundError, ValueError) as e:
            print(f"compare {slug}: {e}", file=sys.stderr, flush=True)
            rc = 1
            continue
        print("\n" + format_table(cmp), file=stream, flush=True)
        print(f"wrote {_rel(Path(out_dir) / slug / COMPARE_FILE)}", file=stream, flush=True)
    return rc


def agreement_markdown(comparisons: Sequence[dict]) -> str:
    """Several notebooks' comparisons (compare.json contents) as one markdown section for figures/README.md:
    a summary row per notebook, then every claim side by side."""
    if not comparisons:
        raise ValueError("agreement_markdown needs at least one comparison")
    out = ["## Verdict agreement between seeds", "",
           "Each notebook rerun at another seed and compared claim by claim with the reference run "
           "(`python -m paperlib run SLUG --profile default -p seed=N --out DIR --compare figures/`, then "
           "`DIR/SLUG/compare.json` copied to `figures/agreement/SLUG.json`). "
           "Rule: a verdict that differs between seeds is inconclusive at both.", "",
           "| paper | seeds | claims | agree | differ (inconclusive by the rule) |", "|---|---|---|---|---|"]
    for c in comparisons:
        differ = [r["claim"] for r in c["rows"] if not r["agree"]]
        out.append(f"| {c['paper']} | {c['seed']['reference']} vs {c['seed']['this_run']} | {c['n_claims']} | "
                   f"{c['n_agree']} | {', '.join(differ) or '-'} |")
    out += ["", "| paper | claim | reference seed | other seed | agree? | verdict by the rule |",
            "|---|---|---|---|---|---|"]
    for c in comparisons:
        s = c["seed"]
        for r in c["rows"]:
            out.append(f"| {c['paper']} | {r['claim']} | {ICON.get(r['reference'], '')} {r['reference']} "
                       f"(seed {s['reference']}) | {ICON.get(r['this_run'], '')} {r['this_run']} (seed {s['this_run']}) | "
                       f"{'yes' if r['agree'] else '**no**'} | {r['reconciled']} |")
    return "\n".join(out) + "\n"


def stale_reason(cmp: dict, current: dict | None) -> str | None:
    """Why a saved comparison no longer describes ``current`` (the reference folder's results.json now):
    None when it still does (same reference commit and the same reference verdict for every claim)."""
    if current is None:
        return "no reference results.json"
    commit = (current.get("provenance") or {}).get("git_commit")
    if cmp.get("reference_commit") and commit and cmp["reference_commit"] != commit:
        return f"reference regenerated since (commit {commit[:7]}, compared with {cmp['reference_commit'][:7]})"
    now = {str(c.get("id")): _verdict(c) for c in current.get("claims") or []}
    changed = [r["claim"] for r in cmp.get("rows", []) if now.get(r["claim"], "missing") != r["reference"]]
    return f"reference verdicts changed since: {', '.join(changed)}" if changed else None


def agreement_markdown_from(files: Iterable[str | Path]) -> str:
    """:func:`agreement_markdown` of compare.json files (e.g. ``DIR/*/compare.json``), in the order given."""
    return agreement_markdown([json.loads(Path(f).read_text()) for f in files])
