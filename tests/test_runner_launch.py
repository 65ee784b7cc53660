"""Issue 10 item 7: one notebook under torchrun (`--nproc-per-node`) with parameters injected as papermill
would, only rank 0 writing; `--slurm` hands the same command to submitit."""
from __future__ import annotations

import json

import pytest

from paperlib import runner as R
from paperlib.runner import launch

from test_runner import fake, make_notebook  # noqa: F401  (fixture + helpers)

DDP = """\
import json, pathlib
import torch, torch.distributed as dist
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.ones(1)
dist.all_reduce(t)
if rank == 0:
    from paperlib.staging import Output
    o = Output(pathlib.Path(out_dir), SLUG)
    (o.dir / "results.json").write_text(json.dumps({"paper": SLUG, "world": world, "sum": t.item(),
        "seed": seed, "profile": profile, "claims": [], "provenance": {"data": {}}}))
    o.publish()
dist.destroy_process_group()
"""


def test_script_has_parameters_injected_after_the_parameters_cell(fake):
    papers, layout = fake
    src = launch.notebook_script(layout.notebook("01_alpha"), {"seed": 5, "profile": "ci"})
    assert src.index('profile = "default"') < src.index("seed = 5") < src.index("SLUG = '01_alpha'")


@pytest.mark.notebook
def test_nproc_per_node_2_on_cpu_writes_one_results_json(fake, capsys):
    papers, layout = fake
    make_notebook(layout.notebook("01_alpha"), ["SLUG = '01_alpha'", DDP])
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, params={"seed": 3},
                        nproc_per_node=2) == 0, capsys.readouterr()
    base = layout.runs_dir / "ci" / "figures"
    res = json.loads((base / "01_alpha" / "results.json").read_text())
    assert res["world"] == 2 and res["sum"] == 2.0 and res["seed"] == 3 and res["profile"] == "ci"
    assert sorted(p.name for p in base.iterdir()) == ["01_alpha"]  # one folder, no staging left
    assert R.read_cache(layout, "ci", "01_alpha")["parts"]["nproc_per_node"] == 2


def test_slurm_submits_the_torchrun_command(fake, monkeypatch, capsys):
    papers, layout = fake
    import submitit

    seen = {}

    class FakeExecutor:
        def __init__(self, folder):
            seen["folder"] = folder

        def update_parameters(self, **kw):
            seen["params"] = kw

        def submit(self, fn, cmd, **kw):
            seen["cmd"], seen["cwd"] = cmd, kw["cwd"]
            return type("Job", (), {"job_id": "4242"})()

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    assert R.main(["run", "alpha", "--profile", "ci", "--nproc-per-node", "4", "--slurm"]) == 2  # not in registry
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, nproc_per_node=4, slurm=True) == 0
    out = capsys.readouterr().out
    assert "submitted 01_alpha: SLURM job 4242" in out
    assert seen["params"]["gpus_per_node"] == 4 and "--nproc-per-node=4" in seen["cmd"]
    assert seen["cmd"][-1].endswith("01_alpha.torchrun.py") and seen["cwd"] == str(layout.notebooks_dir.resolve())
