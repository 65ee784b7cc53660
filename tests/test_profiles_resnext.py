"""01 ResNeXt: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10, item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile, with
overrides that keep every path of the profile (the three arms and their real-data loaders, step schedule,
Fig 7 / Table 7 / C5 over the CIFAR arms, Table 4's C2 models, two Fig 5 panels, colour jitter + lighting,
Nesterov) and shrink only sizes: mini models, 2 optimizer steps, 2-image batches, fake data in each real
layout (tiny-imagenet-200, CIFAR-10 / -100 python pickles, ImageNet ImageFolder)."""
import pytest

from fakes import results, run_notebook_cells, skip_cifar_md5, write_cifar, write_imagefolder, write_tiny_imagenet
from paperlib.configs.resnext import PROFILES

SLUG = "01_resnext"
MINI = ["resnext_mini_1x32d", "resnext_mini_8x7d"]
SMALL = dict(epochs=2, max_steps=2, batch_size=4, lr=0.01, num_workers=0, threads=1,
             throughput_models=["resnext_mini_1x32d"], throughput_batch=2, throughput_rounds=1)

pytestmark = pytest.mark.usefixtures("one_thread")


def _claims(res):
    return {c["id"]: c for c in res["claims"]}


def test_gpu_profile_three_arms_on_fake_tiny_imagenet_and_cifar(tmp_path, monkeypatch):
    skip_cifar_md5(monkeypatch)
    data = tmp_path / "data"
    write_tiny_imagenet(data / "tiny-imagenet-200")
    write_cifar(data, "cifar10")
    write_cifar(data, "cifar100")
    # the profile's arms with their datasets, sub-folders, stems, crops and schedules; the smallest models:
    # minis on tiny-imagenet (C1's pair), the two smallest ResNeXt-29 on CIFAR (Fig 7 / Table 7 need them)
    c29 = ["resnext29_1x64d", "resnext29_2x64d"]
    arms = [dict(a, models=list(MINI if a["name"] == "tiny_imagenet" else c29), epochs=2, milestones=[1])
            for a in PROFILES["gpu"]["arms"]]
    over = dict(SMALL, arms=arms, models=MINI + c29, c1_pair=list(MINI), c5_pairs=[c29[::-1]], seeds=[0],
                milestones=[1])
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=over, data_root=data)
    assert [a.name for a in ns["arms"]] == ["tiny_imagenet", "cifar10", "cifar100"] and ns["main"].name == "tiny_imagenet"
    assert ns["main"].cfg.stem == "imagenet_nopool" and ns["main"].cfg.num_classes == 200
    for name, n_val in (("tiny_imagenet", 4), ("cifar10", 8), ("cifar100", 8)):
        rs = ns["by_arm"][name]
        assert len(rs) == 2 and all(len(r["val_correct"]) == n_val for r in rs), name     # 2 models x 1 seed
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "gpu" and {"fig7.png", "table7.csv"} <= {a.rsplit("/", 1)[-1] for a in res["artifacts"]}
    c = _claims(res)
    assert set(c) >= {"C1", "C4", "C5"} and "cifar10" in str(c["C5"]["evidence"])


def test_paper_profile_on_a_fake_imagenet_folder(tmp_path):
    data = write_imagefolder(tmp_path / "imagenet", classes=("n01440764", "n01443537"))
    grouped, deeper, wider = "resnext_mini_8x7d", "resnext_mini_2x20d", "resnext_mini_4x12d"
    over = dict(SMALL, image_size=32, models=list(MINI), c1_pair=list(MINI),
                fig5_pairs=[list(MINI), [deeper, wider]], ablation_models=["resnext_mini_1x32d"],
                c2_models=[grouped, deeper, wider], milestones=[1, 2])
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=data)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.nesterov, cfg.color_jitter, cfg.lighting, cfg.schedule) == ("imagenet", True, 0.4, 0.1, "step")
    trained = {(r["model"], r["seed"]) for r in ns["results"]}
    assert trained == {(m, 0) for m in MINI + [deeper, wider]}            # models, then c2 models not among them
    assert len(ns["ablation"]) == 1 and ns["ablation"][0]["model"] == "resnext_mini_1x32d"
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "paper" and any(a.endswith("fig5.png") for a in res["artifacts"])
    c = _claims(res)
    assert "C2" in c and c["C2"]["verdict"] in ("held", "not held", "inconclusive")
    assert "no C2 models" not in c["C2"]["reason"]
