"""`python -m paperlib run ... --compare REF`: verdict agreement between two runs, compare.json, and the
markdown agreement table for figures/README.md."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paperlib import REPO_ROOT
from paperlib.runner import compare as C
from paperlib.runner import main


def _results(seed, verdicts, slug="99_toy"):
    return {"paper": slug, "profile": "default", "provenance": {"seed": seed, "profile": "default"},
            "claims": [{"id": cid, "statement": f"claim {cid}", "verdict": v, "reason": "r", "evidence": {},
                        "paper": {}} for cid, v in verdicts.items()]}


def _write(folder, slug, res):
    (folder / slug).mkdir(parents=True, exist_ok=True)
    (folder / slug / "results.json").write_text(json.dumps(res))


def test_compare_results_rows_and_the_reconcile_rule():
    ref = _results(0, {"C1": "held", "C2": "inconclusive", "C3": "not held", "C4": "held"})
    new = _results(1, {"C1": "held", "C2": "held", "C3": "held", "C5": "inconclusive"})
    cmp = C.compare_results(ref, new)
    rows = {r["claim"]: r for r in cmp["rows"]}
    assert [r["claim"] for r in cmp["rows"]] == ["C1", "C2", "C3", "C4", "C5"]   # reference order, then new
    assert rows["C1"] == {"claim": "C1", "reference": "held", "this_run": "held", "agree": True, "reconciled": "held"}
    assert rows["C2"]["agree"] is False and rows["C2"]["reconciled"] == "inconclusive"     # differs: inconclusive
    assert rows["C3"]["reconciled"] == "inconclusive"
    assert rows["C4"]["this_run"] == "missing" and not rows["C4"]["agree"]
    assert rows["C5"]["reference"] == "missing" and rows["C5"]["reconciled"] == "inconclusive"
    assert cmp["seed"] == {"reference": 0, "this_run": 1} and (cmp["n_agree"], cmp["n_claims"]) == (1, 5)
    table = C.format_table(cmp)
    assert "seed 0 (reference) vs seed 1 (this run): 1 of 5 claims agree" in table
    assert "| C2 | ➖ inconclusive | ✅ held | **no** | inconclusive |" in table
    # older results files: verdict as a dict, seed only in the parameters
    old = {"claims": [{"id": "C1", "verdict": {"verdict": "held", "reason": "x"}}],
           "provenance": {"parameters": {"seed": 3}}}
    cmp = C.compare_results(old, new)
    assert cmp["seed"]["reference"] == 3 and cmp["rows"][0]["agree"]


def test_compare_run_writes_compare_json_and_refuses_bad_inputs(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    _write(ref, "99_toy", _results(0, {"C1": "held", "C2": "not held"}))
    _write(out, "99_toy", _results(1, {"C1": "held", "C2": "inconclusive"}))
    cmp = C.compare_run("99_toy", out, ref)
    saved = json.loads((out / "99_toy" / "compare.json").read_text())
    assert saved["rows"] == cmp["rows"] and saved["n_agree"] == 1 and saved["paper"] == "99_toy"
    with pytest.raises(FileNotFoundError, match="no results file"):
        C.compare_run("98_none", out, ref)
    with pytest.raises(ValueError, match="own output folder"):
        C.compare_run("99_toy", out, out)
    (ref / "99_toy" / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        C.compare_run("99_toy", out, ref)
    assert C.compare_runs(["99_toy"], out, ref) == 1     # reported, not raised


def test_agreement_markdown_for_several_notebooks(tmp_path):
    a = C.compare_results(_results(0, {"C1": "held", "C2": "inconclusive"}, "01_a"),
                          _results(1, {"C1": "held", "C2": "inconclusive"}, "01_a"))
    b = C.compare_results(_results(0, {"C1": "held", "C2": "held"}, "02_b"),
                          _results(1, {"C1": "not held", "C2": "held"}, "02_b"))
    md = C.agreement_markdown([a, b])
    assert md.startswith("## Verdict agreement between seeds")
    assert "| 01_a | 0 vs 1 | 2 | 2 | - |" in md and "| 02_b | 0 vs 1 | 2 | 1 | C1 |" in md
    assert "| 02_b | C1 | ✅ held (seed 0) | ❌ not held (seed 1) | **no** | inconclusive |" in md
    files = []
    for c in (a, b):
        f = tmp_path / f"{c['paper']}.json"
        f.write_text(json.dumps(c))
        files.append(f)
    assert C.agreement_markdown_from(files) == md
    with pytest.raises(ValueError):
        C.agreement_markdown([])


def test_cli_refuses_a_missing_reference_folder(tmp_path):
    assert main(["run", "04", "--profile", "ci", "--out", str(tmp_path / "o"), "--compare", str(tmp_path / "nope")]) == 2


@pytest.mark.notebook
def test_compare_command_at_ci(tmp_path):
    """One real ci run of 04 (fast) with --compare against the committed default results of 04."""
    slug = "04_panoptic_segmentation"
    ref = tmp_path / "ref"
    (ref / slug).mkdir(parents=True)
    shutil.copy(REPO_ROOT / "figures" / slug / "results.json", ref / slug / "results.json")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "paperlib", "run", "04", "--profile", "ci", "-p", "seed=1",
                           "--out", str(out), "--force", "--no-report", "--compare", str(ref)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    cmp = json.loads((out / slug / "compare.json").read_text())
    ref_res = json.loads((ref / slug / "results.json").read_text())
    new_res = json.loads((out / slug / "results.json").read_text())
    assert cmp["seed"] == {"reference": 0, "this_run": 1} and cmp["profile"]["this_run"] == "ci"
    assert [r["claim"] for r in cmp["rows"]] == [c["id"] for c in ref_res["claims"]]
    by_new = {c["id"]: c["verdict"] for c in new_res["claims"]}
    for r in cmp["rows"]:
        assert r["this_run"] == by_new[r["claim"]]
        assert r["agree"] == (r["reference"] == r["this_run"])
        assert r["reconciled"] == (r["reference"] if r["agree"] else "inconclusive")
    assert f"{slug}: verdict agreement, seed 0 (reference) vs seed 1 (this run)" in proc.stdout


def test_cli_compare_after_a_run(tmp_path, monkeypatch, capsys):
    """The CLI path without a kernel: run_papers replaced by one that writes the run's results.json."""
    from paperlib.runner import cli

    ref, out = tmp_path / "ref", tmp_path / "out"
    _write(ref, "04_panoptic_segmentation", _results(0, {"C1": "held", "C2": "held"}, "04_panoptic_segmentation"))

    def fake_run(slugs, profile, params, overrides, out_dir, *a, **k):
        _write(Path(out_dir), "04_panoptic_segmentation",
               _results(params.get("seed", 0), {"C1": "held", "C2": "inconclusive"}, "04_panoptic_segmentation"))
        return 0

    monkeypatch.setattr(cli, "run_papers", fake_run)
    assert main(["run", "04", "--profile", "ci", "-p", "seed=1", "--out", str(out), "--compare", str(ref)]) == 0
    cmp = json.loads((out / "04_panoptic_segmentation" / "compare.json").read_text())
    assert [(r["claim"], r["agree"], r["reconciled"]) for r in cmp["rows"]] == [("C1", True, "held"),
                                                                              ("C2", False, "inconclusive")]
    assert "1 of 2 claims agree" in capsys.readouterr().out
    # the reference lacks this notebook: reported, exit 1
    assert main(["run", "04", "--profile", "ci", "-p", "seed=1", "--out", str(out), "--compare", str(out / "x")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["run", "04", "--profile", "ci", "--out", str(out), "--compare", str(tmp_path / "empty")]) == 1


def test_report_shows_saved_agreement_and_flags_a_regenerated_reference(tmp_path):
    from paperlib.runner.report import render_report

    figs, out = tmp_path / "figures", tmp_path / "out"
    ref = _results(0, {"C1": "held", "C2": "not held"})
    ref["provenance"]["git_commit"] = "a" * 40
    _write(figs, "99_toy", ref)
    _write(out, "99_toy", _results(3, {"C1": "held", "C2": "inconclusive"}))
    cmp = C.compare_run("99_toy", out, figs)
    assert cmp["reference_commit"] == "a" * 40
    (figs / "agreement").mkdir()
    shutil.copy(out / "99_toy" / "compare.json", figs / "agreement" / "99_toy.json")
    text = render_report(figs, papers={})
    assert "## Verdict agreement between seeds" in text and "| 99_toy | 0 vs 3 | 2 | 1 | C2 |" in text
    assert "no longer match" not in text
    ref["provenance"]["git_commit"] = "b" * 40               # the reference run was regenerated since
    ref["claims"][1]["verdict"] = "inconclusive"
    _write(figs, "99_toy", ref)
    text = render_report(figs, papers={})
    assert "no longer match" in text and "reference regenerated since (commit bbbbbbb" in text
    assert C.stale_reason(cmp, None) == "no reference results.json"
    ref["provenance"]["git_commit"] = "a" * 40               # same commit, a changed verdict still shows
    assert C.stale_reason(cmp, ref) == "reference verdicts changed since: C2"
