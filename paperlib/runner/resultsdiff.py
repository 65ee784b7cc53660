"""Compare two runs' ``results.json`` number by number, ignoring what is expected to vary (timings).

    python -m paperlib.runner.resultsdiff figures/01_resnext/results.json /tmp/out/01_resnext/results.json
    python -m paperlib.runner.resultsdiff figures/ /tmp/out/ --slug 08_regnet --ignore 'loglog_slopes'

Every numeric leaf of ``metrics`` and every claim's verdict is compared exactly (``--rtol`` relaxes
the numbers); leaves whose path matches a volatile pattern (wall-clock times, throughputs, cache
counts, dates, hosts) are skipped and counted. Exit status 0 when the two runs agree, 1 when they
differ, 2 on a usage error -- so a script can assert that a rerun is bit-identical. This is the check
behind the README's "Determinism" paragraph.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = ["VOLATILE", "flatten", "diff_results", "load", "format_diff", "main"]

#: path fragments of values that legitimately change between identical runs: wall-clock measurements
#: (and what is computed from them), cache state, and where/when the run happened
VOLATILE = (r"second", r"wall", r"time", r"timing", r"throughput", r"per_s(ec)?\b", r"img_per_s", r"ips\b",
            r"speed", r"latency", r"_ms\b", r"\bcached\b", r"\bdate\b", r"\bhost\b", r"\bpid\b", r"finished",
            r"runtime")


def flatten(obj: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(path, leaf) pairs of nested dicts / lists; paths read ``a.b[2].c``."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from flatten(obj[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def _same(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    if math.isnan(a) and math.isnan(b):
        return True
    if rtol == 0:
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def diff_results(a: dict, b: dict, *, rtol: float = 0.0, ignore: Sequence[str] = ()) -> dict:
    """Compare ``metrics`` leaves and claim verdicts of two results.json dicts.

    Returns {"compared", "ignored", "differ": [(path, a, b)], "only_a", "only_b",
    "verdicts": [(claim_id, verdict_a, verdict_b)] (the claims whose verdict differs)}."""
    pats = [re.compile(p, re.I) for p in (*VOLATILE, *ignore)]
    fa = dict(flatten(a.get("metrics", {}), "metrics"))
    fb = dict(flatten(b.get("metrics", {}), "metrics"))
    out: Dict[str, Any] = {"compared": 0, "ignored": 0, "differ": [], "only_a": [], "only_b": [], "verdicts": []}
    for path in sorted(set(fa) | set(fb)):
        if any(p.search(path) for p in pats):
            out["ignored"] += 1
            continue
        if path not in fb:
            out["only_a"].append(path)
        elif path not in fa:
            out["only_b"].append(path)
        else:
            out["compared"] += 1
            if not _same(fa[path], fb[path], rtol):
                out["differ"].append((path, fa[path], fb[path]))
    va = {c.get("id"): c.get("verdict") for c in a.get("claims", [])}
    vb = {c.get("id"): c.get("verdict") for c in b.get("claims", [])}
    out["claims"] = len(set(va) | set(vb))
    out["verdicts"] = [(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb), key=str) if va.get(k) != vb.get(k)]
    return out


def identical(d: dict) -> bool:
    return not (d["differ"] or d["only_a"] or d["only_b"] or d["verdicts"])


def load(path, slug: Optional[str] = None) -> dict:
    """A results.json, given as the file, its run folder, or an output folder plus ``slug``."""
    p = Path(path)
    if p.is_dir():
        p = p / slug / "results.json" if slug and not (p / "results.json").exists() else p / "results.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no results.json there (give the file, its run folder, or an out folder "
                                "with --slug)")
    with open(p) as f:
        return json.load(f)


def format_diff(d: dict, limit: int = 40) -> str:
    lines = [f"{d['compared']} numbers compared ({d['ignored']} volatile skipped): {len(d['differ'])} differ; "
             f"{d['claims']} claims: {len(d['verdicts'])} verdicts differ"]
    for path, x, y in d["differ"][:limit]:
        delta = ""
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            delta = f"  (diff {y - x:+.3g})"
        lines.append(f"  {path}: {x!r} -> {y!r}{delta}")
    if len(d["differ"]) > limit:
        lines.append(f"  ... {len(d['differ']) - limit} more")
    for k, x, y in d["verdicts"]:
        lines.append(f"  claim {k}: {x} -> {y}")
    for path in d["only_a"][:limit]:
        lines.append(f"  only in A: {path}")
    for path in d["only_b"][:limit]:
        lines.append(f"  only in B: {path}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paperlib.runner.resultsdiff", description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="results.json, its run folder, or an out folder (with --slug)")
    ap.add_argument("b")
    ap.add_argument("--slug", help="notebook slug when a / b are output folders (e.g. 01_resnext)")
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0: bit-identical)")
    ap.add_argument("--ignore", action="append", default=[], help="extra regex of metric paths to skip")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args(argv)
    try:
        d = diff_results(load(args.a, args.slug), load(args.b, args.slug), rtol=args.rtol, ignore=args.ignore)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_diff(d, args.limit))
    return 0 if identical(d) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
