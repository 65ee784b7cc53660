"""The Run recorder's own guarantees: outputs staged and swapped in one step by finalize(), the lock,
data_root checks, PDF figures that keep their bytes, and one resolve_device / seeding / versions()."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from paperlib import REPO_ROOT, staging
from paperlib.config import PAPERS, PaperSpec
from paperlib.metrics import stats


@dataclass
class _Cfg:
    epochs: int = 1
    dataset: str = "synthetic"


@pytest.fixture
def paper(monkeypatch):
    PAPERS._load()
    monkeypatch.setitem(PAPERS, "98_rec", PaperSpec("98_rec", "Record test", _Cfg, {"ci": {}}))
    return "98_rec"


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _good_run(paper, tmp_path, value):
    from paperlib.record import Run

    run = Run(paper, profile="ci", device="cpu", out_dir=str(tmp_path))
    run.table("t", [{"v": value}])
    run.claim("C1", "exact", stats.decide_exact(1, 1), trained=False)
    return run


def test_outputs_appear_only_at_finalize_and_replace_the_old_ones_at_once(paper, tmp_path):
    final = tmp_path / paper
    run = _good_run(paper, tmp_path, 1)
    assert not final.exists() and run.out.parent == tmp_path and run.out.name.startswith(f".{paper}.staging-")
    run.finalize()
    assert final.is_dir() and not run.out.name.startswith(".")
    assert (final / "t.csv").read_text() == "v\n1\n"
    first = _snapshot(final)
    # a second run that fails before finalize() leaves the first run's bytes untouched
    run2 = _good_run(paper, tmp_path, 2)
    run2.table("extra", [{"x": 1}])
    assert _snapshot(final) == first
    # ... and a third that succeeds replaces everything (no file of the old run survives)
    from paperlib.record import Run

    run3 = Run(paper, profile="ci", device="cpu", out_dir=str(tmp_path))
    run3.table("only", [{"v": 3}])
    run3.claim("C1", "exact", stats.decide_exact(1, 1), trained=False)
    run3.finalize()
    assert sorted(p.name for p in final.iterdir()) == ["only.csv", "only.md", "results.json"]
    # no staging folders left by this process's published runs; run2's is marked failed by run3
    assert (tmp_path / f"{paper}.failed" / staging.FAILED_NOTE).exists() is False  # run3 succeeded: cleared
    assert not list(tmp_path.glob(f".{paper}.staging-*"))


@contextlib.contextmanager
def hold_lock(final):
    """Another process holding the output lock of `final` until the block ends (then it is killed)."""
    code = ("import sys, time; from paperlib import staging; staging.acquire(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(final)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_lock_refuses_a_second_process_naming_it(paper, tmp_path):
    final = tmp_path / paper
    with hold_lock(final) as holder:
        from paperlib.record import Run

        with pytest.raises(staging.OutputLocked, match=f"pid {holder.pid} on host "):
            Run(paper, profile="ci", device="cpu", out_dir=str(tmp_path))
    # the holder died: its lock is taken over, and its leftovers are marked failed
    (tmp_path / f".{paper}.staging-{holder.pid}-dead").mkdir()
    (tmp_path / f".{paper}.staging-{holder.pid}-dead" / "partial.csv").write_text("x\n")
    run = _good_run(paper, tmp_path, 1)
    failed = tmp_path / f"{paper}.failed"
    assert (failed / "partial.csv").read_text() == "x\n"
    assert "killed or crashed" in (failed / staging.FAILED_NOTE).read_text()
    run.finalize()
    assert not failed.exists() and not staging.lock_path(final).exists()


def test_data_root_checks(paper, tmp_path):
    from paperlib.record import Run

    with pytest.raises(ValueError, match="dataset is 'synthetic'"):
        Run(paper, profile="ci", device="cpu", data_root=str(tmp_path), out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        Run(paper, profile="ci", device="cpu", data_root=str(tmp_path / "nope"),
            overrides={"dataset": "cifar10"}, out_dir=str(tmp_path))
    run = Run(paper, profile="ci", device="cpu", data_root=str(tmp_path), overrides={"dataset": "cifar10"},
              out_dir=str(tmp_path))
    assert run.data_root == tmp_path.resolve()


def test_figure_also_pdf_byte_stable(paper, tmp_path):
    from paperlib.plots import subplots

    runs = []
    for sub in ("a", "b"):
        run = _good_run(paper, tmp_path / sub, 1)
        fig, ax = subplots()
        ax.plot([0, 1, 2], [2, 0, 1], label="x")
        ax.legend()
        run.figure("f", fig, close=True)
        runs.append(run.finalize().parent)
    a, b = runs
    assert json.loads((a / "results.json").read_text())["artifacts"] == ["f.pdf", "f.png", "t.csv", "t.md"]
    pdf = (a / "f.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf == (b / "f.pdf").read_bytes()
    assert b"CreationDate" not in pdf


def test_one_resolve_device_seeding_and_versions():
    import random

    import torch

    from paperlib import record, versions
    from paperlib.engine import loop

    assert record.resolve_device("cpu") == loop.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        for f in (record.resolve_device, loop.resolve_device):
            with pytest.raises(RuntimeError, match="CUDA is not available"):
                f("cuda")
    record.seed_all(3)
    a = (random.random(), torch.rand(1).item())
    record.seed_all(3)
    assert a == (random.random(), torch.rand(1).item())
    assert record.versions() == versions.versions()
    from paperlib.runner import library_versions

    assert library_versions() == {k: v for k, v in versions.versions().items() if k != "python"}


def test_training_divergence_is_written_into_results(paper, tmp_path, monkeypatch):
    import json

    from paperlib.engine import loop

    monkeypatch.setattr(loop, "DIVERGED_RUNS", [])
    run = _good_run(paper, tmp_path, 1)
    run.finalize()
    assert json.loads((tmp_path / paper / "results.json").read_text())["training_divergence"] == []
    monkeypatch.setattr(loop, "DIVERGED_RUNS", [{"desc": "arm", "epoch": 1, "step": 3, "loss": 3.9e10,
                                                 "first_loss": 2.3, "growth": 1.7e10}])
    run = _good_run(paper, tmp_path, 1)
    run.finalize()
    got = json.loads((tmp_path / paper / "results.json").read_text())["training_divergence"]
    assert got == [{"desc": "arm", "epoch": 1, "step": 3, "loss": 3.9e10, "first_loss": 2.3, "growth": 1.7e10}]
