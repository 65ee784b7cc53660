"""Issue 11 at the runner: a failed or killed run never leaves mixed outputs, the cache never claims a
success it did not have, one run per output folder, unique temp names, bad inputs refused up front.

Planted notebooks in tmp dirs write through :class:`paperlib.staging.Output` (what ``Run`` uses) so
kernels stay light; the registry is the fake one of tests/test_runner.py.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from paperlib import staging
from paperlib import runner as R
from paperlib.config import PaperSpec
from paperlib.runner import common

from test_record import hold_lock
from test_runner import fake, fake_exec, make_notebook, spec  # noqa: F401  (fixtures + helpers)

WRITE = """\
import json, pathlib
from paperlib.staging import Output
o = Output(pathlib.Path(out_dir), SLUG)
(o.dir / "table.csv").write_text(f"seed,{seed}\\n")
"""
FINISH = """\
(o.dir / "results.json").write_text(json.dumps({"paper": SLUG, "claims": [{"verdict": "held"}],
    "artifacts": ["table.csv"], "provenance": {"data": {}}}))
o.publish()
"""


def _nb(layout, slug, middle=()):
    make_notebook(layout.notebook(slug), [f"SLUG = {slug!r}", WRITE, *middle, FINISH])


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.notebook
@pytest.mark.parametrize("how", ["raises", "kernel dies"])
def test_failed_or_killed_run_keeps_last_good_outputs(fake, capsys, how):
    papers, layout = fake
    _nb(layout, "01_alpha")
    kw = dict(profile="ci", papers=papers, layout=layout)
    assert R.run_papers(["alpha"], **kw) == 0
    final = layout.runs_dir / "ci" / "figures" / "01_alpha"
    good, good_nb = _snapshot(final), layout.executed("ci", "01_alpha").read_bytes()
    entry = R.read_cache(layout, "ci", "01_alpha")
    assert entry["status"] == "ok" and entry["verdicts"]["held"] == 1
    # a run with seed 2 that fails after writing part of its outputs
    bad = "raise ValueError('planted')" if how == "raises" else "import os; os._exit(1)"
    _nb(layout, "01_alpha", [bad])
    capsys.readouterr()
    assert R.run_papers(["alpha"], params={"seed": 2}, **kw) == 1
    out = capsys.readouterr().out
    assert _snapshot(final) == good  # byte-identical
    assert layout.executed("ci", "01_alpha").read_bytes() == good_nb  # the good executed notebook too
    failed = final.parent / "01_alpha.failed"
    assert (failed / "table.csv").read_text() == "seed,2\n"  # the partial outputs, beside, marked
    assert "FAILED" in (failed / staging.FAILED_NOTE).read_text()
    assert "partial outputs in" in out and "FAILED at cell 5" in out
    assert layout.executed("ci", "01_alpha").with_name("01_alpha.failed.ipynb").exists()
    entry = R.read_cache(layout, "ci", "01_alpha")
    assert entry["status"] == "failed" and entry["failed_cell"] == 5
    assert not list(final.parent.glob(".01_alpha.*"))  # no staging folder or lock left
    # the cache does not claim the failed run's success: the next run of the first command runs again
    _nb(layout, "01_alpha")
    assert R.run_papers(["alpha"], **kw) == 0
    assert "skip" not in capsys.readouterr().out
    assert not failed.exists()


def test_killed_runner_leftovers_are_marked_failed_and_lock_taken_over(fake, fake_exec, capsys):
    papers, layout = fake
    kw = dict(profile="ci", papers=papers, layout=layout)
    base = layout.runs_dir / "ci" / "figures"
    base.mkdir(parents=True)
    # what a `kill -9` of the runner leaves: a lock naming a dead pid and a staging folder
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    staging.lock_path(base / "01_alpha").write_text(json.dumps({"pid": pid, "host": "h", "token": "t"}))
    (base / f".01_alpha.staging-{pid}-abcd").mkdir()
    (base / f".01_alpha.staging-{pid}-abcd" / "table2.csv").write_text("killed\n")
    assert R.run_papers(["alpha"], **kw) == 0
    out = capsys.readouterr().out
    assert f"took over the lock of pid {pid}" in out
    assert "a killed run's partial outputs are now in" in out
    # marked failed beside the good outputs (the fake run here writes straight to the final folder)
    assert (base / "01_alpha.failed" / "table2.csv").read_text() == "killed\n"
    assert (base / "01_alpha" / "results.json").exists()
    assert not staging.lock_path(base / "01_alpha").exists()
    # killed again, but this time the next call is a cache hit: the leftovers are still marked
    (base / f".01_alpha.staging-{pid}-ef01").mkdir()
    (base / f".01_alpha.staging-{pid}-ef01" / "table3.csv").write_text("killed again\n")
    layout.executed("ci", f".01_alpha.running-{pid}").write_text("{}")
    assert R.run_papers(["alpha"], **kw) == 0
    out = capsys.readouterr().out
    assert "skip 01_alpha" in out and fake_exec("01_alpha") == 1
    assert (base / "01_alpha.failed" / "table3.csv").read_text() == "killed again\n"
    assert layout.executed("ci", "01_alpha.failed").read_text() == "{}"
    assert not list(layout.executed("ci", "x").parent.glob(".01_alpha.running-*"))


def test_second_run_into_same_folder_is_refused_naming_the_holder(fake, fake_exec, capsys):
    papers, layout = fake
    final = layout.runs_dir / "ci" / "figures" / "01_alpha"
    with hold_lock(final) as holder:
        assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on host " in err and "being written by another run" in err
        assert fake_exec() == 0  # refused before any kernel
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout) == 0  # dead holder: taken over


def _writer(path, n):
    for i in range(n):
        common.write_json(path, {"i": i, "pad": "x" * 4000})


def test_concurrent_writers_never_share_a_temp_name_nor_show_a_torn_file(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(common.os, "replace", lambda a, b: (seen.append(str(a)), real(a, b)))
    common.write_json(tmp_path / "r.json", {})
    common.write_json(tmp_path / "r.json", {})
    assert len(set(seen)) == 2 and all(str(os.getpid()) in s for s in seen)
    monkeypatch.setattr(common.os, "replace", real)
    path = tmp_path / "results.json"
    common.write_json(path, {"i": -1})
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, 150)) for _ in range(2)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs) or reads < 50:
        json.loads(path.read_text())  # never truncated
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_corrupt_notebook_refused_by_run_and_shown_by_list(fake, fake_exec, capsys):
    papers, layout = fake
    assert R.run_papers(["beta"], profile="ci", papers=papers, layout=layout) == 0
    layout.notebook("02_beta").write_text('{"cells": [')
    capsys.readouterr()
    for slugs in (["beta"], None):
        assert R.run_papers(slugs, profile="ci", papers=papers, layout=layout) == 2
        err = capsys.readouterr().err
        assert "02_beta.ipynb is not a readable notebook" in err and "git checkout" in err
    text = R.list_papers(papers, layout)  # no traceback
    assert "(notebook unreadable)" in text


@dataclass
class _DataCfg:
    epochs: int = 1
    dataset: str = "synthetic"


def test_data_root_refused_before_any_kernel(fake, fake_exec, capsys, tmp_path):
    papers, layout = fake
    papers["01_alpha"] = PaperSpec("01_alpha", "A", _DataCfg, {"ci": {}}, {"ci": 60})
    kw = dict(profile="ci", papers=papers, layout=layout)
    assert R.run_papers(["alpha"], params={"data_root": str(tmp_path / "nonexistent")},
                        overrides={"dataset": "cifar10"}, **kw) == 2
    assert "does not exist" in capsys.readouterr().err
    assert R.run_papers(["alpha"], params={"data_root": str(tmp_path)}, **kw) == 2
    assert "dataset is 'synthetic'" in capsys.readouterr().err
    assert fake_exec() == 0
    assert R.run_papers(["alpha"], params={"data_root": str(tmp_path)}, overrides={"dataset": "cifar10"}, **kw) == 0


def test_report_ignores_failed_and_staging_folders(tmp_path):
    figs = tmp_path / "figures"
    for name in ("01_alpha", "01_alpha.failed", ".01_alpha.staging-1-ab"):
        (figs / name).mkdir(parents=True)
        (figs / name / "results.json").write_text(json.dumps({"paper": "01_alpha", "profile": name, "claims": []}))
    text = R.render_report(figs, {"01_alpha": spec("01_alpha")})
    assert "| 01_alpha |" in text and "failed" not in text and "staging" not in text
