"""08 RegNet: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10, item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile. Kept
from each profile: the dataset and its loader (fake CIFAR-10 pickles; a fake ImageNet folder), the flop
window, stem and stage count, the sweep backend (gpu: a local process pool; paper: submitit's AutoExecutor,
which runs the jobs as local processes where there is no SLURM), the dedicated Fig 11 trend sweeps and the
Table 4 EfficientNet timing. Shrunk: populations of 2 models per space, 2 optimizer steps, tiny timing."""
import pytest

from fakes import results, run_notebook_cells, skip_cifar_md5_everywhere, write_cifar, write_imagefolder

SLUG = "08_regnet"
SMALL = dict(max_steps=2, epochs=1, batch_size=4, n_per_space=2, n_by_space={}, n_boot=50, boot_reps=200,
             fit_top=1, trend_n=2, trend_epochs=1, timing_models=["regnetx_200mf", "regnety_200mf"],
             timing_batch=2, timing_image_size=64, timing_reps=1, timing_threads=1,
             effnet_pairs=[["efficientnet_b0", "regnety_400mf"]], effnet_train_batch=2, precise_bn_images=8)

pytestmark = pytest.mark.usefixtures("one_thread")


def _check(ns, res, profile, spaces, n_trend):
    recs = ns["records"]
    assert len(recs) == 2 * len(spaces) and all(r["status"] == "ok" for r in recs)
    assert len(ns["trend_records"]) == n_trend and all(r["status"] == "ok" for r in ns["trend_records"])
    assert all(len(ns["errs"][sp]) == 2 for sp in spaces)
    assert ns["effnet"] is not None and len(ns["effnet"].table) >= 1
    assert res["profile"] == profile and len(res["claims"]) >= 5
    arts = {a.rsplit("/", 1)[-1] for a in res["artifacts"]}
    assert {"fig5_edf.png", "fig11_trends.png", "table4_effnet_timing.csv"} <= arts, arts


def test_gpu_profile_on_fake_cifar10_with_trend_sweeps_and_effnet_timing(tmp_path, monkeypatch):
    skip_cifar_md5_everywhere(monkeypatch, tmp_path)
    data = write_cifar(tmp_path / "data", "cifar10")
    over = dict(SMALL, sweep_dir=str(tmp_path / "sweep"), spaces=["AnyNetX_C", "RegNet"], trend_regimes=[[30e6, 60e6]])
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=over, data_root=data)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.backend, cfg.workers, cfg.flop_window) == ("cifar10", "local", 1, [30e6, 120e6])
    assert ns["prep"].n_train == 40 and ns["prep"].n_val == 8
    _check(ns, results(tmp_path / "out", SLUG), "gpu", cfg.spaces, 2)


def test_paper_profile_on_a_fake_imagenet_folder_through_submitit(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    # the profile's AutoExecutor, held to local processes even where sbatch exists (a test never submits to SLURM)
    auto = submitit.AutoExecutor
    monkeypatch.setattr(submitit, "AutoExecutor", lambda *a, **k: auto(*a, cluster="local", **k))
    data = write_imagefolder(tmp_path / "imagenet", classes=("n01440764", "n01443537"), size=(64, 64))
    # the paper's 4-stage models with the simple stem, at 64 px with the flop windows scaled by (64/224)^2
    # (the paper's 360-400 MF at 224 px are ~75 s per job on a shared CPU, mostly outside the notebook);
    # two spaces and one trend regime keep it small
    k = (64 / 224) ** 2
    over = dict(SMALL, sweep_dir=str(tmp_path / "sweep"), spaces=["AnyNetX_A", "RegNet"], batch_size=2,
                image_size=64, flop_window=[360e6 * k, 400e6 * k], trend_regimes=[[360e6 * k, 400e6 * k]],
                timing_image_size=64)
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=data)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.backend, cfg.image_size, cfg.num_stages, cfg.stem) == ("imagenet", "submitit", 64, 4, "simple")
    assert all(360e6 * k <= r["result"]["flops"] <= 400e6 * k for r in ns["records"])
    assert cfg.executor_kwargs == {"gpus_per_node": 1, "timeout_min": 600}      # the profile's, passed as is
    _check(ns, results(tmp_path / "out", SLUG), "paper", cfg.spaces, 2)
