"""Every paper notebook runs end to end through papermill at the ci profile (the runner's own path),
and its results.json has the contract's shape: claims with verdicts, finite numbers, artifacts on disk."""
import json
import math
import subprocess
import sys

import pytest

from paperlib import REPO_ROOT
from paperlib.config import PAPERS

SLUGS = [s for s, spec in PAPERS.items() if spec.notebook.exists()]


def _finite(x):
    if isinstance(x, float):
        return math.isfinite(x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, list):
        return all(_finite(v) for v in x)
    return True


@pytest.mark.notebook
@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_runs_at_ci_profile(slug, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "paperlib", "run", slug, "--profile", "ci", "--out", str(out),
                           "--force"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    res = json.loads((out / slug / "results.json").read_text())
    assert res["paper"] == slug and res["profile"] == "ci"
    assert res["claims"], "no claims recorded"
    for c in res["claims"]:
        assert {"id", "statement", "verdict", "evidence", "paper"} <= set(c)
        assert c["verdict"] in ("held", "not held", "inconclusive")
    assert _finite(res["metrics"]), "non-finite metric"
    for a in res["artifacts"]:
        assert (out / slug / a).exists(), a
    assert any(a.endswith(".png") for a in res["artifacts"]), "no figure written"
    prov = res["provenance"]
    assert prov["profile"] == "ci" and prov["seed"] == 0 and prov["versions"]["torch"]
