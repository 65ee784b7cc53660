"""The command line: `python -m paperlib run|list|report`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from ..config import PROFILES, ConfigError
from .common import CLI_PARAMS, Layout, UsageError, _rel
from .compare import compare_runs
from .plan import resolve_slugs
from .pool import run_papers
from .report import write_report
from .status import list_papers


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
    r.add_argument("--verbose", "-v", action="store_true", help="also stream each notebook's own log lines")
    r.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="run the notebook as a script under torchrun with N processes (only rank 0 writes)")
    r.add_argument("--slurm", action="store_true",
                   help="submit the torchrun command as a SLURM job through submitit instead of running here")
    r.add_argument("--compare", default=None, metavar="REF_DIR",
                   help="after the run, compare each notebook's claim verdicts with REF_DIR/<slug>/results.json "
                        "(e.g. figures/): print the agreement table and write <out>/<slug>/compare.json")

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
            if args.nproc_per_node is not None and args.nproc_per_node < 1:
                raise UsageError("--nproc-per-node must be >= 1")
            params = parse_assignments(args.param, "-p")
            overrides = parse_assignments(args.override, "-o")
            if args.compare is not None:
                if args.slurm:
                    raise UsageError("--compare needs the run's results here; it cannot follow --slurm")
                if not Path(args.compare).is_dir():
                    raise UsageError(f"--compare {args.compare}: no such folder")
            rc = run_papers(args.slugs, args.profile, params, overrides, args.out, args.jobs, args.force,
                            report=False if args.no_report else None, verbose=args.verbose,
                            nproc_per_node=args.nproc_per_node, slurm=args.slurm)
            if args.compare is None or rc == 2:
                return rc
            out = Path(args.out).expanduser() if args.out else Layout().default_out(args.profile)
            return max(rc, compare_runs(resolve_slugs(args.slugs), out, Path(args.compare)))
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
