"""Everything checked before any kernel starts: slugs, profile, parameters, config, output folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from .. import REPO_ROOT
from ..paths import check_data_root
from ..config import NOTEBOOK_PARAMS, PROFILES, ConfigError, validate_values
from .common import CLI_PARAMS, DEFAULT_PARAMS, Layout, UsageError, _inside, _load_nb, _registry, _rel


def resolve_slugs(names: Iterable[str], papers=None, layout: Layout | None = None) -> list[str]:
    """Map "01_resnext" / "resnext" / "01" / "1" to slugs; none = every paper with a notebook."""
    papers = _registry(papers)
    layout = layout or Layout()
    names = list(names or ())
    if not names:
        return [s for s in sorted(papers) if layout.notebook(s).exists()]
    slugs = []
    for name in names:
        name = str(name).strip()
        match = None
        for slug in sorted(papers):
            num, _, short = slug.partition("_")
            if name in (slug, short) or (name.isdigit() and num.isdigit() and int(name) == int(num)):
                match = slug
                break
        if match is None:
            raise UsageError(f"unknown paper {name!r}; valid: {', '.join(sorted(papers)) or '(none registered)'}")
        if not layout.notebook(match).exists():
            raise UsageError(f"{match}: notebook {_rel(layout.notebook(match))} does not exist")
        if match not in slugs:
            slugs.append(match)
    return slugs


def check_notebook(path: Path) -> None:
    """Refuse a notebook file that is not valid notebook JSON (before hashing or running it)."""
    nb = _load_nb(path)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise UsageError(f"{_rel(path)} is not a readable notebook (not valid .ipynb JSON with a 'cells' list); "
                         f"restore it, e.g. `git checkout -- {_rel(path)}`")


def check_config(spec, profile: str, overrides: dict) -> Any:
    """The paper's Config for profile + overrides; ConfigError naming valid keys/choices otherwise."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile not in spec.profiles:
        raise UsageError(f"{spec.slug} has no profile {profile!r}; valid: {', '.join(spec.profiles)}")
    validate_values(spec, overrides)
    try:
        return spec.config_cls(**{**spec.profiles[profile], **overrides})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{spec.slug}: invalid config for profile {profile!r}: {e}") from e


def build_params(profile: str, params: dict | None = None, overrides: dict | None = None,
                 out_dir: str | None = None) -> dict:
    """The notebook parameters (all six), after checking names and types."""
    params = dict(params or {})
    if "profile" in params:
        raise UsageError("set the profile with --profile, not -p profile=...")
    if "out_dir" in params:
        raise UsageError("set the output folder with --out, not -p out_dir=...")
    unknown = sorted(set(params) - set(CLI_PARAMS))
    if unknown:
        raise UsageError(f"unknown notebook parameter(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(CLI_PARAMS)} (plus --profile, --out)")
    merged = {**DEFAULT_PARAMS, **params}
    ov = merged.get("overrides")
    if ov is None:
        ov = {}
    if not isinstance(ov, dict):
        raise UsageError(f"overrides must be a JSON object like '{{\"epochs\": 2}}', got {ov!r}")
    merged["overrides"] = {**ov, **(overrides or {})}
    seed = merged["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"seed must be an int, got {seed!r}")
    for name in ("device", "data_root"):
        if merged[name] is not None and not isinstance(merged[name], str):
            raise UsageError(f"{name} must be a string or null, got {merged[name]!r}")
    if not isinstance(merged["device"], str):
        raise UsageError("device must be a string such as 'auto', 'cpu' or 'cuda'")
    if merged["data_root"] is not None:
        merged["data_root"] = str(Path(merged["data_root"]).expanduser().resolve())
    out = {"profile": profile, **merged, "out_dir": out_dir}
    return {k: out[k] for k in NOTEBOOK_PARAMS}


def _kernel_env(layout: Layout) -> dict:
    pythonpath = os.environ.get("PYTHONPATH", "")
    root = str(Path(__file__).resolve().parents[2])
    return {
        "PAPERLIB_HEADLESS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": root + (os.pathsep + pythonpath if pythonpath else ""),
    }



def prepare(slugs: Iterable[str] | None, profile: str, params: dict | None = None,
            overrides: dict | None = None, out: str | Path | None = None, *, papers=None,
            layout: Layout | None = None) -> list[dict]:
    """Validate everything and build one job per notebook; raises ConfigError (exit 2)."""
    papers = _registry(papers)
    layout = layout or Layout()
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    selected = resolve_slugs(slugs or (), papers, layout)
    default_out = layout.default_out(profile)
    out_path = Path(out).expanduser().resolve() if out else default_out.resolve()
    if profile == "ci" and _inside(out_path, layout.figures_dir):
        raise UsageError(f"the ci profile never writes into {_rel(layout.figures_dir)}/; "
                         f"choose another --out (default: {_rel(default_out)})")
    # the default output folder is passed as None so that provenance holds no machine paths
    out_param = None if out_path == default_out.resolve() and layout.root == REPO_ROOT else str(out_path)
    base = build_params(profile, params, overrides, out_param)
    jobs = []
    for slug in selected:
        spec = papers[slug]
        check_notebook(layout.notebook(slug))
        cfg = check_config(spec, profile, base["overrides"])
        try:
            check_data_root(base["data_root"], cfg, where="-p data_root")
        except ValueError as e:
            raise UsageError(f"{slug}: {e}") from None
        timeout = (spec.timeout or {}).get(profile)
        jobs.append({
            "slug": slug, "profile": profile,
            "input": str(layout.notebook(slug).resolve()),
            "output": str(layout.executed(profile, slug).resolve()),
            "cwd": str(layout.notebooks_dir.resolve()),
            "params": base, "timeout": timeout, "env": _kernel_env(layout),
            "results": str(out_path / slug / "results.json"),
        })
    return jobs

