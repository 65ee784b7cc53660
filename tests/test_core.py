"""Core framework: config validation, verdict rules, record/results.json, data generator + manifest."""
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from paperlib import REPO_ROOT
from paperlib.config import ConfigError, PaperSpec, validate_values as _validate
from paperlib.metrics import stats


# ----------------------------------------------------------------------------- config
@dataclass
class _Cfg:
    epochs: int = 1
    lr: float = 0.1
    name: str = "a"
    seeds: list[int] = field(default_factory=lambda: [0])
    max_steps: int | None = None


_SPEC = PaperSpec("99_fake", "Fake", _Cfg, {"ci": {}})


def test_override_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        _validate(_SPEC, {"no_such_key": 1})
    assert "no_such_key" in str(e.value) and "epochs" in str(e.value) and "lr" in str(e.value)


@pytest.mark.parametrize("bad", [{"epochs": "3"}, {"epochs": 1.5}, {"lr": "x"}, {"seeds": [0, "a"]},
                                 {"epochs": True}, {"max_steps": "2"}])
def test_override_wrong_type(bad):
    with pytest.raises(ConfigError):
        _validate(_SPEC, bad)


@pytest.mark.parametrize("good", [{"epochs": 3}, {"lr": 1}, {"seeds": [1, 2]}, {"max_steps": None}, {"max_steps": 5}])
def test_override_good(good):
    _validate(_SPEC, good)


def test_every_registered_paper_profile_builds():
    from paperlib.config import PAPERS, get_config

    for slug, spec in PAPERS.items():
        for prof in spec.profiles:
            get_config(slug, prof, {})


# ----------------------------------------------------------------------------- verdicts
def test_verdict_cannot_be_typed_by_hand():
    with pytest.raises(TypeError):
        stats.Verdict("held", "because I say so")


def test_decide_diff_rules():
    assert stats.decide_diff(0.02, 0.01, 0.03, expect="+").verdict == "held"
    assert stats.decide_diff(-0.02, -0.03, -0.01, expect="+").verdict == "not held"
    assert stats.decide_diff(0.02, -0.01, 0.03, expect="+").verdict == "inconclusive"
    assert stats.decide_diff(-0.02, -0.03, -0.01, expect="-").verdict == "held"
    assert stats.decide_diff(0.5, expect="+", seed_std=0.1).verdict == "held"
    assert stats.decide_diff(0.1, expect="+", seed_std=0.1).verdict == "inconclusive"
    assert stats.decide_diff(-0.5, expect="+", seed_std=0.1).verdict == "not held"
    assert stats.decide_diff(0.5, expect="+").verdict == "inconclusive"  # no noise estimate
    # a stated minimum effect (and 2 x seed std beside an interval): held only above the floor
    assert stats.decide_diff(0.02, 0.01, 0.03, expect="+", min_effect=0.05).verdict == "inconclusive"
    assert stats.decide_diff(0.06, 0.01, 0.09, expect="+", min_effect=0.05).verdict == "held"
    assert stats.decide_diff(0.06, 0.01, 0.09, expect="+", min_effect=0.05, seed_std=0.04).verdict == "inconclusive"
    assert stats.decide_diff(-0.02, -0.03, -0.01, expect="+", min_effect=0.05).verdict == "not held"
    assert stats.decide_diff(-0.06, -0.09, -0.01, expect="-", min_effect=0.05).verdict == "held"
    assert stats.decide_diff(0.25, expect="+", seed_std=0.1, min_effect=0.3).verdict == "inconclusive"
    assert stats.decide_diff(0.35, expect="+", seed_std=0.1, min_effect=0.3).verdict == "held"
    v = stats.decide_diff(0.02, 0.01, 0.03, expect="+", min_effect=0.05)
    assert "0.05" in v.reason and v.evidence["min_effect"] == 0.05
    with pytest.raises(ValueError):
        stats.decide_diff(0.1, expect="+", min_effect=-1)


def test_compare_arms_and_paired():
    assert stats.compare_arms([0.30, 0.31], [0.20, 0.21], expect="-").verdict == "held"
    assert stats.compare_arms([0.30, 0.20], [0.25, 0.26], expect="-").verdict == "inconclusive"
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.6).astype(float)
    b = (rng.random(2000) < 0.8).astype(float)
    assert stats.decide_paired(a, b, expect="+").verdict == "held"
    assert stats.decide_paired(a, a, expect="+").verdict == "inconclusive"


def test_exact_and_combine():
    assert stats.decide_exact({"p": 1}, {"p": 1}).verdict == "held"
    assert stats.decide_exact([1, 2], [1, 3]).verdict == "not held"
    held, inc = stats.decide_exact(1, 1), stats.not_tested("needs ImageNet")
    assert stats.combine([held, held]).verdict == "held"
    assert stats.combine([held, inc]).verdict == "inconclusive"
    assert stats.combine([held, stats.decide_exact(1, 2)]).verdict == "not held"


def test_mean_std_and_bootstrap():
    m, s = stats.mean_std([1.0, 2.0, 3.0])
    assert m == 2.0 and s == pytest.approx(1.0)
    assert stats.mean_std([4.0]) == (4.0, 0.0)
    lo, hi = stats.bootstrap_ci(np.arange(100.0))
    assert lo < 49.5 < hi
    assert stats.fmt_mean_std([0.1, 0.2], scale=100, digits=1) == "15.0 ± 7.1"


def test_topk_errors():
    import torch

    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    e = stats.topk_errors(logits, torch.tensor([1, 2]), ks=(1, 2))
    assert e["top1_err"] == 0.5 and e["top2_err"] == 0.0


# ----------------------------------------------------------------------------- environment
def _deps(spec: str) -> str:
    import re

    return re.split(r"[<>=!~ ]", spec, 1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    import yaml

    py = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    want = set(py["dependencies"]) | {d for extra in py["optional-dependencies"].values() for d in extra}
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    have = {d for d in pip if not d.startswith("-e")}
    assert have == want, f"environment.yml and pyproject.toml disagree: {sorted(have ^ want)}"


# ----------------------------------------------------------------------------- data
def test_synthetic_classification_manifest_and_determinism(tmp_path):
    from paperlib.data import read_manifest, synthetic_classification
    from paperlib.data.common import content_hash

    a = synthetic_classification(4, 16, 40, 12, seed=3, root=tmp_path / "a")
    b = synthetic_classification(4, 16, 40, 12, seed=3, root=tmp_path / "b")
    ma, mb = read_manifest(a), read_manifest(b)
    assert ma["content_hash"] == mb["content_hash"] and ma["files"] == 52
    assert content_hash(a)[0] == ma["content_hash"]  # manifest describes the bytes on disk
    c = synthetic_classification(4, 16, 40, 12, seed=4, root=tmp_path / "a")
    assert read_manifest(c)["content_hash"] != ma["content_hash"]
    assert sorted(p.name for p in (a / "train").iterdir()) == [f"class_{i:02d}" for i in range(4)]
    # second call reuses the folder (no regeneration)
    mtime = (a / "manifest.json").stat().st_mtime
    assert synthetic_classification(4, 16, 40, 12, seed=3, root=tmp_path / "a") == a
    assert (a / "manifest.json").stat().st_mtime == mtime


def test_classification_datasets_synthetic_and_layout_errors(tmp_path, monkeypatch):
    from paperlib.data import classification_datasets

    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path))
    tr, va, meta = classification_datasets("synthetic", image_size=16, n_train=30, n_val=10, num_classes=3)
    x, y = tr[0]
    assert x.shape == (3, 16, 16) and 0 <= y < 3 and meta["num_classes"] == 3 and len(va) == 10
    for name, needle in [("cifar10", "cifar-10-batches-py"), ("imagefolder", "train/<class>"),
                         ("tiny-imagenet", "val_annotations.txt")]:
        with pytest.raises(FileNotFoundError, match="expected layout") as e:
            classification_datasets(name, data_root=tmp_path / "nothing")
        assert needle in str(e.value)
    with pytest.raises(ValueError, match="unknown dataset"):
        classification_datasets("mnist")


def test_synthetic_is_not_trivial():
    """The classes are not separable by colour statistics alone (a linear probe on mean colour is weak)."""
    from paperlib.data.classification import render_image

    rng = np.random.default_rng(0)
    X, Y = [], []
    for i in range(600):
        c = i % 6
        X.append(render_image(c, 16, rng).reshape(-1, 3).mean(0))
        Y.append(c)
    X, Y = np.array(X), np.array(Y)
    from numpy.linalg import lstsq

    onehot = np.eye(6)[Y]
    A = np.c_[X, np.ones(len(X))]
    W = lstsq(A[:400], onehot[:400], rcond=None)[0]
    acc = (np.argmax(A[400:] @ W, 1) == Y[400:]).mean()
    assert acc < 0.5  # chance 0.167; a real classifier must look at shapes


# ----------------------------------------------------------------------------- record
@pytest.fixture
def fake_paper(monkeypatch):
    from paperlib.config import PAPERS

    PAPERS._load()
    monkeypatch.setitem(PAPERS, "99_fake", _SPEC)
    return "99_fake"


def test_run_writes_results_json(tmp_path, fake_paper):
    from paperlib.plots import subplots
    from paperlib.record import Run

    run = Run(fake_paper, profile="ci", seed=1, device="cpu", overrides={"epochs": 2}, out_dir=str(tmp_path))
    assert run.cfg.epochs == 2
    run.table("t1", [{"model": "a", "err": 0.5}, {"model": "b", "err": 0.25}], caption="Table 1")
    fig, ax = subplots()
    ax.plot([0, 1], [1, 0])
    run.figure("f1", fig, close=True)
    run.metric("err", np.float32(0.25))
    run.claim("C1", "b beats a", stats.compare_arms([0.5, 0.51], [0.25, 0.26], expect="-"))
    run.claim("C2", "exact", stats.decide_exact(1, 1), trained=False)
    path = run.finalize()
    res = json.loads(path.read_text())
    assert res["paper"] == "99_fake" and res["profile"] == "ci"
    assert res["claims"][0]["verdict"] == "inconclusive" and "ci" in res["claims"][0]["reason"]
    assert res["claims"][1]["verdict"] == "held"
    assert set(res["artifacts"]) == {"t1.md", "t1.csv", "f1.png", "f1.pdf"}
    prov = res["provenance"]
    for k in ("git_commit", "dirty", "versions", "device", "profile", "parameters", "param_hash", "seed",
              "wall_seconds"):
        assert k in prov
    assert prov["versions"]["torch"] and prov["seed"] == 1
    assert {"threads", "cpu_capability", "cpu_model", "onednn", "mkl"} <= set(prov["numerics"])
    assert "| model | err |" in (tmp_path / "99_fake" / "t1.md").read_text()


def test_run_rejects_typed_verdict_missing_artifact_and_ci_into_figures(tmp_path, fake_paper):
    from paperlib.record import Run

    run = Run(fake_paper, profile="ci", device="cpu", out_dir=str(tmp_path))
    with pytest.raises(TypeError):
        run.claim("C1", "x", "held")
    run.claim("C1", "x", stats.not_tested("n/a"))
    run.artifacts.append("ghost.png")
    with pytest.raises(FileNotFoundError, match="ghost.png"):
        run.finalize()
    with pytest.raises(ValueError, match="figures"):
        Run(fake_paper, profile="ci", device="cpu", out_dir=str(REPO_ROOT / "figures"))
    from paperlib.config import ConfigError

    with pytest.raises(ConfigError, match="valid keys"):
        Run(fake_paper, profile="ci", device="cpu", overrides={"nope": 1}, out_dir=str(tmp_path))


def test_figure_bytes_are_stable(tmp_path):
    from paperlib.plots import save_png, subplots

    for name in ("a.png", "b.png"):
        fig, ax = subplots()
        ax.plot([0, 1, 2], [2, 0, 1], label="x")
        ax.legend()
        save_png(fig, tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_run_shifts_every_training_seed_once(tmp_path):
    """Run applies the notebook's seed to cfg.seeds, every *_seeds list and the arms' own seed lists, so
    notebooks use cfg.seeds as given; counts (MAE's ref_seeds) and seed 0 are left alone."""
    from paperlib.config import get_config, shift_seeds
    from paperlib.record import Run

    run = Run("01_resnext", profile="ci", seed=3, device="cpu", out_dir=str(tmp_path),
              overrides={"seeds": [0, 1], "ablation_seeds": [0], "arms": [{"name": "x", "dataset": "synthetic", "seeds": [5]},
                                                                    {"name": "y", "dataset": "synthetic"}]})
    assert run.cfg.seeds == [3, 4] and run.cfg.ablation_seeds == [3]
    assert run.cfg.arms[0]["seeds"] == [8] and "seeds" not in run.cfg.arms[1]
    assert get_config("01_resnext", "ci", {}).seeds == [0]          # the profile itself is untouched
    mae = shift_seeds(get_config("10_mae", "default", {}), 3)
    assert mae.seeds == [3] and mae.ref_seeds == get_config("10_mae", "default", {}).ref_seeds
    run0 = Run("07_lvis", profile="ci", seed=0, device="cpu", out_dir=str(tmp_path / "b"))
    assert run0.cfg.seeds == get_config("07_lvis", "ci", {}).seeds
