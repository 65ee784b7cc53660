"""The papermill runner: validation before any kernel, the content-hash cache, failures, list, report.

A tiny fake registry and planted notebooks (no torch) live in tmp_path; most tests replace the
papermill call by a fake that writes what a notebook would write (the runner's worker processes
are forked, so the monkeypatch reaches them). Two tests start real kernels.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from paperlib import REPO_ROOT
from paperlib import runner as R
from paperlib.runner import execute as X
from paperlib.config import PaperSpec

PARAMS_SRC = 'profile = "default"\nseed = 0\ndevice = "auto"\ndata_root = None\noverrides = {}\nout_dir = None'

WRITE_RESULTS = """\
import json, os, pathlib
out = pathlib.Path(out_dir) / SLUG
out.mkdir(parents=True, exist_ok=True)
res = {"paper": SLUG, "profile": profile,
       "metrics": {"epochs": overrides.get("epochs", 1), "seed": seed,
                   "headless": os.environ.get("PAPERLIB_HEADLESS"), "cwd": os.getcwd()},
       "claims": [], "artifacts": [], "provenance": {"data": {}}}
(out / "results.json").write_text(json.dumps(res))
"""


@dataclass
class FakeConfig:
    epochs: int = 1
    lr: float = 0.1
    arch: str = "a"
    widths: list[int] = field(default_factory=lambda: [8])


def make_notebook(path: Path, cells: list[str], params: str = PARAMS_SRC) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# planted"), p] + [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def spec(slug, profiles=("ci", "default"), timeout=60):
    return PaperSpec(slug, f"Title of {slug}", FakeConfig, {p: {} for p in profiles}, {p: timeout for p in profiles})


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A layout in tmp_path with three registered papers; 03_gamma has no notebook."""
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PAPERLIB_HEADLESS", raising=False)  # the runner must set it for the kernel
    nbdir = tmp_path / "notebooks"
    for slug in ("01_alpha", "02_beta"):
        make_notebook(nbdir / f"{slug}.ipynb", [f"SLUG = {slug!r}", WRITE_RESULTS])
    papers = {s: spec(s) for s in ("01_alpha", "02_beta", "03_gamma")}
    lib = tmp_path / "lib"  # a private "paperlib" source tree: edits elsewhere do not change the key
    lib.mkdir()
    (lib / "m.py").write_text("X = 1\n")
    layout = R.Layout(root=tmp_path, notebooks_dir=nbdir, runs_dir=tmp_path / "runs",
                      figures_dir=tmp_path / "figures", lib_dir=lib)
    return papers, layout


@pytest.fixture
def fake_exec(tmp_path, monkeypatch):
    """Replace papermill by a fake that logs its calls and writes results.json (+ optional data)."""
    calls = tmp_path / "calls.txt"
    data = {}

    def fake_papermill(input_path, output_path, parameters, cwd, timeout, log):
        slug = Path(input_path).stem
        with open(calls, "a") as f:
            f.write(f"{slug}\n")
        Path(output_path).write_text(Path(input_path).read_text())
        out = Path(parameters["out_dir"]) / slug
        out.mkdir(parents=True, exist_ok=True)
        res = {"paper": slug, "profile": parameters["profile"], "claims": [], "artifacts": [],
               "metrics": {"headless": os.environ.get("PAPERLIB_HEADLESS"), "seed": parameters["seed"],
                           "overrides": parameters["overrides"], "cwd": cwd},
               "provenance": {"data": dict(data)}}
        (out / "results.json").write_text(json.dumps(res))

    monkeypatch.setattr(X, "_papermill_execute", fake_papermill)

    def ncalls(slug=None):
        lines = calls.read_text().split() if calls.exists() else []
        return len([s for s in lines if slug is None or s == slug])

    ncalls.data = data
    return ncalls


def no_kernel(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a kernel was started")

    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", boom)
    monkeypatch.setattr(X, "_papermill_execute", boom)


# ---------------------------------------------------------------------------------- arguments


def test_parse_values():
    assert R.parse_assignments(["epochs=2", "lr=0.5", "arch=resnext", "flag=true", "x=null", "w=[1,2]"], "-o") == {
        "epochs": 2, "lr": 0.5, "arch": "resnext", "flag": True, "x": None, "w": [1, 2]}
    assert R.parse_assignments(['overrides={"epochs": 2}'], "-p") == {"overrides": {"epochs": 2}}
    with pytest.raises(R.UsageError):
        R.parse_assignments(["epochs"], "-o")


def test_build_params_merges_p_and_o():
    p = R.build_params("ci", {"overrides": {"epochs": 2, "lr": 0.2}, "seed": 3}, {"lr": 0.3}, None)
    assert list(p) == ["profile", "seed", "device", "data_root", "overrides", "out_dir"]
    assert p == {"profile": "ci", "seed": 3, "device": "auto", "data_root": None,
                 "overrides": {"epochs": 2, "lr": 0.3}, "out_dir": None}


def test_slug_resolution(fake):
    papers, layout = fake
    for name in ("01_alpha", "alpha", "01", "1"):
        assert R.resolve_slugs([name], papers, layout) == ["01_alpha"]
    assert R.resolve_slugs([], papers, layout) == ["01_alpha", "02_beta"]  # 03 has no notebook
    with pytest.raises(R.UsageError, match="valid: 01_alpha, 02_beta, 03_gamma"):
        R.resolve_slugs(["delta"], papers, layout)
    with pytest.raises(R.UsageError, match="does not exist"):
        R.resolve_slugs(["gamma"], papers, layout)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(slugs=["nope"]), "unknown paper 'nope'; valid: 01_alpha"),
    (dict(profile="huge"), "unknown profile 'huge'; valid: ci, default, gpu, paper"),
    (dict(profile="gpu"), "has no profile 'gpu'; valid: ci, default"),
    (dict(overrides={"no_such_key": 1}), "unknown key(s) 'no_such_key' in overrides; valid keys: arch, epochs, lr, widths"),
    (dict(params={"overrides": {"no_such_key": 1}}), "'no_such_key'"),
    (dict(overrides={"epochs": "ten"}), "overrides['epochs'] = 'ten' has type str, expected int"),
    (dict(overrides={"widths": [1, "x"]}), "overrides['widths'] = [1, 'x']"),
    (dict(params={"overrides": [1]}), "overrides must be a JSON object"),
    (dict(params={"sead": 1}), "unknown notebook parameter(s) 'sead'; valid: seed, device, data_root, overrides"),
    (dict(params={"seed": "x"}), "seed must be an int"),
    (dict(params={"device": 3}), "device must be a string"),
    (dict(params={"profile": "ci"}), "--profile"),
    (dict(params={"out_dir": "x"}), "--out"),
    (dict(out="FIGURES"), "the ci profile never writes into"),
    (dict(out="FIGURES/sub"), "the ci profile never writes into"),
])
def test_refused_before_any_kernel(fake, monkeypatch, capsys, kwargs, expected):
    papers, layout = fake
    no_kernel(monkeypatch)
    kw = {"slugs": ["01"], "profile": "ci", **kwargs}
    if isinstance(kw.get("out"), str):
        kw["out"] = kw["out"].replace("FIGURES", str(layout.figures_dir))
    rc = R.run_papers(papers=papers, layout=layout, **kw)
    err = capsys.readouterr().err
    assert rc == 2
    assert expected in err
    assert not (layout.runs_dir / "ci").exists()


def test_cli_refuses_with_exit_code_2(monkeypatch, capsys):
    no_kernel(monkeypatch)
    assert R.main(["run", "no_such_paper", "--profile", "ci"]) == 2
    assert "unknown paper 'no_such_paper'" in capsys.readouterr().err
    assert R.main(["run", "--profile", "ci", "-p", "bogus=1"]) == 2
    assert "unknown notebook parameter" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse: malformed command line
        R.main(["run", "--jobs", "x"])
    assert e.value.code == 2


def test_module_entry_point_exit_code():
    """`python -m paperlib` exists and refuses an unknown slug with exit code 2 (no kernel: fast)."""
    p = subprocess.run([sys.executable, "-m", "paperlib", "run", "zz_nope", "--profile", "ci"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "unknown paper 'zz_nope'" in p.stderr and "valid:" in p.stderr


# ---------------------------------------------------------------------------------- cache key


def _key(nb, params, lib, **kw):
    kw.setdefault("versions", {"torch": "2.14.1", "numpy": "2.0"})
    kw.setdefault("python_version", "3.11.7")
    return R.cache_key(nb, params, lib_dir=lib, **kw)


def test_cache_key_stable_and_sensitive(tmp_path):
    nb = make_notebook(tmp_path / "nb" / "01_alpha.ipynb", ["x = 1"])
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.py").write_text("A = 1\n")
    (lib / "sub" / "b.py").write_text("B = 1\n")
    params = {"profile": "ci", "seed": 0, "device": "auto", "data_root": None,
              "overrides": {"epochs": 2, "lr": 0.1}, "out_dir": None}
    base = _key(nb, params, lib)
    # stable: same inputs, reordered dicts, versions reordered
    reordered = {"out_dir": None, "overrides": {"lr": 0.1, "epochs": 2}, "data_root": None,
                 "device": "auto", "seed": 0, "profile": "ci"}
    assert _key(nb, reordered, lib) == base
    assert _key(nb, params, lib, versions={"numpy": "2.0", "torch": "2.14.1"}) == base
    # outputs and execution counts do not matter
    d = nbformat.read(str(nb), as_version=4)
    d.cells[2].execution_count = 7
    d.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi")]
    d.metadata["papermill"] = {"duration": 1.0}
    nbformat.write(d, str(nb))
    assert _key(nb, params, lib) == base
    # every input changes it
    assert _key(nb, {**params, "seed": 1}, lib) != base
    assert _key(nb, {**params, "overrides": {"epochs": 3, "lr": 0.1}}, lib) != base
    assert _key(nb, params, lib, versions={"torch": "2.14.2", "numpy": "2.0"}) != base
    assert _key(nb, params, lib, python_version="3.12.0") != base
    (lib / "sub" / "b.py").write_text("B = 2\n")
    changed_lib = _key(nb, params, lib)
    assert changed_lib != base
    (lib / "c.py").write_text("")
    assert _key(nb, params, lib) != changed_lib
    d.cells[2].source = "x = 2"
    nbformat.write(d, str(nb))
    assert _key(nb, params, lib) not in (base, changed_lib)


def test_library_versions_without_importing_torch():
    code = "import sys, paperlib.runner as r; v = r.library_versions(); assert 'torch' not in sys.modules; print(v)"
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "'papermill'" in p.stdout


# ---------------------------------------------------------------------------------- cache behaviour


def test_second_run_skipped_force_reruns_and_changes_rerun(fake, fake_exec, capsys):
    papers, layout = fake
    kw = dict(profile="ci", papers=papers, layout=layout, overrides={"epochs": 2})
    assert R.run_papers(["alpha"], **kw) == 0
    res = json.loads((layout.runs_dir / "ci" / "figures" / "01_alpha" / "results.json").read_text())
    assert res["metrics"]["headless"] == "1" and res["metrics"]["overrides"] == {"epochs": 2}
    assert res["metrics"]["cwd"] == str(layout.notebooks_dir.resolve())
    assert (layout.runs_dir / "ci" / "01_alpha.ipynb").exists()
    assert (layout.runs_dir / "ci" / ".cache" / "01_alpha.json").exists()
    assert fake_exec("01_alpha") == 1
    capsys.readouterr()

    t0 = time.monotonic()
    assert R.run_papers(["alpha"], **kw) == 0
    assert time.monotonic() - t0 < 10
    out = capsys.readouterr().out
    assert "skip 01_alpha (unchanged since " in out
    assert fake_exec("01_alpha") == 1

    assert R.run_papers(["alpha"], force=True, **kw) == 0
    assert fake_exec("01_alpha") == 2

    # other overrides -> other key
    assert R.run_papers(["alpha"], **{**kw, "overrides": {"epochs": 3}}) == 0
    assert fake_exec("01_alpha") == 3
    # back to epochs=2: the cache holds the last run only, so it runs again, then skips
    assert R.run_papers(["alpha"], **kw) == 0
    assert R.run_papers(["alpha"], **kw) == 0
    assert fake_exec("01_alpha") == 4

    # notebook edited -> runs
    nb = layout.notebook("01_alpha")
    d = nbformat.read(str(nb), as_version=4)
    d.cells.append(nbformat.v4.new_code_cell("z = 3"))
    nbformat.write(d, str(nb))
    capsys.readouterr()
    assert R.run_papers(["alpha"], **kw) == 0
    assert "notebook changed" in capsys.readouterr().out
    assert fake_exec("01_alpha") == 5

    # results.json deleted -> runs
    (layout.runs_dir / "ci" / "figures" / "01_alpha" / "results.json").unlink()
    assert R.run_papers(["alpha"], **kw) == 0
    assert fake_exec("01_alpha") == 6


def test_paperlib_source_change_reruns(fake, fake_exec, tmp_path):
    papers, layout = fake
    lib = layout.lib_dir
    kw = dict(profile="ci", papers=papers, layout=layout)
    R.run_papers(["alpha"], **kw)
    R.run_papers(["alpha"], **kw)
    assert fake_exec("01_alpha") == 1
    (lib / "m.py").write_text("X = 2\n")
    R.run_papers(["alpha"], **kw)
    assert fake_exec("01_alpha") == 2


def test_data_manifest_change_reruns(fake, fake_exec, tmp_path, capsys):
    papers, layout = fake
    root = tmp_path / "data" / "synthetic" / "abc123"  # under PAPERLIB_DATA (set by the fixture)
    root.mkdir(parents=True)
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"name": "synthetic", "content_hash": "h1", "seconds": 1.0}))
    fake_exec.data["synthetic/abc123"] = "h1"
    kw = dict(profile="ci", papers=papers, layout=layout)
    assert R.run_papers(["alpha"], **kw) == 0
    entry = json.loads(layout.cache_file("ci", "01_alpha").read_text())
    assert entry["data"]["synthetic/abc123"]["manifest"] == str(manifest.resolve())
    # regenerated identically (only the timing field differs): still cached
    manifest.write_text(json.dumps({"name": "synthetic", "content_hash": "h1", "seconds": 2.0}))
    assert R.run_papers(["alpha"], **kw) == 0
    assert fake_exec("01_alpha") == 1
    # other data: runs again
    manifest.write_text(json.dumps({"name": "synthetic", "content_hash": "h2"}))
    capsys.readouterr()
    assert R.run_papers(["alpha"], **kw) == 0
    assert "data 'synthetic/abc123' changed" in capsys.readouterr().out
    assert fake_exec("01_alpha") == 2


def test_kernel_start_failure_is_retried_once(fake, tmp_path, monkeypatch, capsys):
    papers, layout = fake
    attempts = tmp_path / "attempts.txt"

    def flaky(input_path, output_path, parameters, cwd, timeout, log):
        n = len(attempts.read_text()) if attempts.exists() else 0
        attempts.write_text("x" * (n + 1))
        if n == 0 or "02_beta" in input_path:
            raise RuntimeError("Kernel died before replying to kernel_info")
        slug = Path(input_path).stem
        out = Path(parameters["out_dir"]) / slug
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text("{}")

    monkeypatch.setattr(X, "_papermill_execute", flaky)
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout) == 0
    assert attempts.read_text() == "xx"
    assert "kernel failed to start" in layout.executed("ci", "01_alpha").with_suffix(".log").read_text()
    capsys.readouterr()
    assert R.run_papers(["beta"], profile="ci", papers=papers, layout=layout) == 1
    assert attempts.read_text() == "xxxx"  # one retry, not more
    assert "FAILED 02_beta: kernel failed to start" in capsys.readouterr().out


def test_default_profile_writes_figures_and_report(fake, fake_exec):
    papers, layout = fake
    assert R.run_papers(None, profile="default", papers=papers, layout=layout, jobs=2) == 0
    assert (layout.figures_dir / "01_alpha" / "results.json").exists()
    assert (layout.figures_dir / "02_beta" / "results.json").exists()
    readme = (layout.figures_dir / "README.md").read_text()
    assert "01_alpha" in readme and "02_beta" in readme
    # a ci run never touches figures/
    assert R.run_papers(None, profile="ci", papers=papers, layout=layout) == 0
    assert (layout.runs_dir / "ci" / "figures" / "01_alpha" / "results.json").exists()
    assert sorted(p.name for p in layout.figures_dir.iterdir()) == ["01_alpha", "02_beta", "README.md"]


def test_list_shows_last_runs(fake, fake_exec):
    papers, layout = fake
    papers["01_alpha"] = spec("01_alpha", profiles=("ci", "default", "gpu"))
    R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout)
    text = R.list_papers(papers, layout)
    first, _, rest = text.partition("\n\n")
    lines = {ln.split()[0]: ln for ln in first.splitlines()[2:]}
    # then the summary table of the last run per profile, the same as at the end of `run`
    assert rest.startswith("last runs, profile ci:\npaper ")
    assert rest.splitlines()[3].split()[:2] == ["01_alpha", "ok"]
    assert "ok 20" in lines["01_alpha"] and "ci,default,gpu" in lines["01_alpha"]
    assert lines["01_alpha"].rstrip().endswith("n/a")  # no paper profile
    assert "[no notebook]" in lines["03_gamma"]
    nb = layout.notebook("01_alpha")
    nb.write_text(nb.read_text().replace("# planted", "# edited"))
    assert "(outdated)" in R.list_papers(papers, layout)


# ---------------------------------------------------------------------------------- real kernels


@pytest.mark.notebook
def test_real_run_failure_keeps_partial_notebook_and_others_run(fake, capsys):
    """Real papermill: a planted failing notebook is reported by cell; the good one still runs."""
    papers, layout = fake
    make_notebook(layout.notebook("02_beta"),
                  ["SLUG = '02_beta'", "print('before')\nraise ValueError('planted failure')", "after = 1"])
    rc = R.run_papers(None, profile="ci", papers=papers, layout=layout, overrides={"epochs": 2}, jobs=1)
    out = capsys.readouterr().out
    assert rc == 1
    # message: paper, cell (1-based position in the source notebook, In [n]), error, partial notebook
    assert "FAILED 02_beta: cell 4 (In [4], `print('before')`): ValueError: planted failure" in out
    failed_nb = layout.executed("ci", "02_beta").with_name("02_beta.failed.ipynb")
    assert f"partial notebook at {os.path.relpath(failed_nb)}" in out
    assert not layout.executed("ci", "02_beta").exists()  # never a partial notebook in the ok place
    partial = nbformat.read(str(failed_nb), as_version=4)
    errors = [o for c in partial.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors and errors[0].evalue == "planted failure"
    assert partial.cells[-1].execution_count is None  # the cell after the failure did not run
    # the other notebook ran, in notebooks/, headless, with the override
    res = json.loads((layout.runs_dir / "ci" / "figures" / "01_alpha" / "results.json").read_text())
    assert res["metrics"] == {"epochs": 2, "seed": 0, "headless": "1", "cwd": str(layout.notebooks_dir.resolve())}
    executed = nbformat.read(str(layout.executed("ci", "01_alpha")), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    summary = out[out.index("paper "):]
    assert "01_alpha" in summary and "ok" in summary and "FAILED" in summary
    # second identical call: the good one is skipped quickly (no kernel), the failed one is retried
    make_notebook(layout.notebook("02_beta"), ["SLUG = '02_beta'", WRITE_RESULTS])
    t0 = time.monotonic()
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, overrides={"epochs": 2}) == 0
    assert time.monotonic() - t0 < 10
    assert "skip 01_alpha (unchanged since" in capsys.readouterr().out


@pytest.mark.notebook
def test_real_run_timeout_names_the_cell(fake, capsys):
    papers, layout = fake
    papers["02_beta"] = spec("02_beta", timeout=3)
    make_notebook(layout.notebook("02_beta"), ["import time", "time.sleep(60)"])
    t0 = time.monotonic()
    assert R.run_papers(["beta"], profile="ci", papers=papers, layout=layout) == 1
    assert time.monotonic() - t0 < 45
    out = capsys.readouterr().out
    assert "FAILED 02_beta: cell 4 (In [4], `time.sleep(60)`): timeout" in out
    assert "budget is 3 s" in out


# ---------------------------------------------------------------------------------- report


def _results(slug, profile, verdicts, artifacts=("fig1.png", "table1.md", "table1.csv")):
    return {
        "paper": slug, "title": f"Title of {slug}", "profile": profile,
        "metrics": {"err": 0.25},
        "claims": [{"id": f"C{i + 1}", "statement": f"claim {i + 1} | with pipe", "verdict": v,
                    "reason": "diff outside noise" if v == "held" else "",
                    "evidence": {"delta": 0.0123456, "n_seeds": 2}, "paper": {"delta": 0.015}}
                   for i, v in enumerate(verdicts)],
        "artifacts": list(artifacts),
        "notes": ["The default scale is too small for C2."],
        "provenance": {"git_commit": "0123456789abcdef", "dirty": True, "wall_seconds": 312.4,
                       "device": "cpu", "seed": 0, "versions": {"python": "3.11.7", "torch": "2.14.1"},
                       "data": {}},
    }


def test_report_from_results(tmp_path):
    figs = tmp_path / "figures"
    for slug, verdicts in (("01_alpha", ["held", "not held", "inconclusive"]), ("02_beta", ["inconclusive"])):
        (figs / slug).mkdir(parents=True)
        (figs / slug / "results.json").write_text(json.dumps(_results(slug, "default", verdicts)))
    papers = {s: spec(s) for s in ("01_alpha", "02_beta", "03_gamma")}
    text = R.render_report(figs, papers)
    assert text == R.render_report(figs, papers)  # deterministic
    assert "| [01_alpha](#01_alpha) | Title of 01_alpha | default | 1 | 1 | 1 | 5 min 12 s |" in text
    assert "| [02_beta](#02_beta) | Title of 02_beta | default | 0 | 0 | 1 |" in text
    assert "| 03_gamma | Title of 03_gamma | not run yet |" in text
    assert "| C1 | claim 1 \\| with pipe | ✅ held (diff outside noise) | delta = 0.01235; n_seeds = 2 | delta = 0.015 |" in text
    assert "❌ not held" in text
    assert "![fig1](01_alpha/fig1.png)" in text
    assert "[table1](01_alpha/table1.md)" in text and "[table1.csv](01_alpha/table1.csv)" in text
    assert "commit `0123456789` (dirty)" in text and "wall time 5 min 12 s" in text
    assert "- The default scale is too small for C2." in text
    path = R.write_report(figs, papers)
    assert path == figs / "README.md" and path.read_text() == text
    mtime = path.stat().st_mtime_ns
    R.write_report(figs, papers)
    assert path.stat().st_mtime_ns == mtime  # unchanged content is not rewritten


def test_report_cli(tmp_path, capsys):
    figs = tmp_path / "figures"
    (figs / "01_alpha").mkdir(parents=True)
    (figs / "01_alpha" / "results.json").write_text(json.dumps(_results("01_alpha", "default", ["held"])))
    assert R.main(["report", "--figures", str(figs)]) == 0
    assert "Title of 01_alpha" in (figs / "README.md").read_text()  # title from results.json
    assert R.main(["list"]) == 0
