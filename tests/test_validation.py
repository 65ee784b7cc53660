"""Issue 11, up-front validation: config value ranges (case 3), truncated checkpoints (case 5) and a loss
that diverges without reaching NaN (case 7). Loaders and panoptic ground truth: test_validation_data.py.
Every refusal must name the field or file and what is expected, and come well under 20 s."""
from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
import typing
import warnings

import pytest

from paperlib import REPO_ROOT
from paperlib.config import (ANYNET_STEMS, CLASSIFICATION_DATASETS, COUNT, PAPERS, STEPS, ConfigError, Range,
                             check_range, check_ranges, get_config)

OWNED = ("01_resnext", "02_fpn", "04_panoptic_segmentation", "08_regnet", "10_mae")


def _refused(slug, overrides, *needles, profile="ci"):
    """get_config must raise ConfigError quickly, with every needle in the message."""
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        get_config(slug, profile, overrides)
    assert time.perf_counter() - t0 < 20
    msg = str(e.value)
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# ----------------------------------------------------------------------------- the Range helper
@dataclasses.dataclass
class _Cfg:
    ratio: float = 0.5
    epochs: int = 1
    max_steps: typing.Optional[int] = None
    threads: int = 0
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    pairs: list = dataclasses.field(default_factory=lambda: [[1.0, 2.0]])
    mode: str = "a"
    flag: bool = False


_TABLE = {"ratio": Range(0, 1, hi_open=True), "epochs": COUNT, "max_steps": STEPS,
          "threads": Range(lo=1, zero="default"), "seeds": Range(lo=0, nonempty=True),
          "pairs": Range(lo=0, lo_open=True), "mode": Range(choices=("a", "b"))}


def test_range_accepts_valid_values_and_sentinels():
    check_ranges(_Cfg(), _TABLE)
    check_ranges(_Cfg(ratio=0.0, epochs=5, max_steps=3, threads=4, seeds=[1, 2], mode="b"), _TABLE)


@pytest.mark.parametrize("field,value,expected", [
    ("ratio", 1.5, "in [0, 1)"), ("ratio", 1.0, "in [0, 1)"), ("ratio", -0.1, "in [0, 1)"),
    ("ratio", math.nan, "in [0, 1)"), ("ratio", math.inf, "in [0, 1)"), ("ratio", True, "in [0, 1)"),
    ("epochs", 0, ">= 1"), ("max_steps", 0, ">= 1, or None (no limit)"), ("threads", -1, "or 0 (default)"),
    ("seeds", [], "non-empty list"), ("seeds", [0, -1], "[-1]"), ("pairs", [[1.0, 0.0]], "[0.0]"),
    ("mode", "c", "one of 'a', 'b'"),
])
def test_range_refuses_with_field_value_and_range(field, value, expected):
    with pytest.raises(ValueError) as e:
        check_ranges(_Cfg(**{field: value}), _TABLE)
    msg = str(e.value)
    assert f"field {field} = {value!r}" in msg and "expected" in msg and expected in msg, msg


def test_range_lists_every_bad_field_and_rejects_table_typos():
    with pytest.raises(ValueError) as e:
        check_ranges(_Cfg(ratio=2.0, epochs=0), _TABLE)
    assert "field ratio = 2.0" in str(e.value) and "field epochs = 0" in str(e.value)
    with pytest.raises(AttributeError, match="no_such_field"):
        check_ranges(_Cfg(), {"no_such_field": COUNT})
    with pytest.raises(ValueError, match="field epochs = 0"):
        check_range(_Cfg(epochs=0), "epochs", lo=1)


def test_shared_name_lists_match_the_libraries():
    from paperlib.data.classification import STATS
    from paperlib.models.anynet import STEMS

    assert set(CLASSIFICATION_DATASETS) == set(STATS)
    assert tuple(ANYNET_STEMS) == tuple(STEMS)


def test_config_modules_stay_torch_free():
    code = ("import sys; import paperlib.config as c; [c.PAPERS[s].config_cls for s in c.PAPERS]; "
            "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------- the paper configs (case 3)
def test_issue_cases_are_refused_before_any_kernel():
    _refused("10_mae", {"mask_ratio": 1.5}, "mask_ratio = 1.5", "(0, 1)")
    _refused("10_mae", {"ratios": [0.5, 1.5]}, "ratios", "[1.5]")
    for slug in OWNED:
        epochs = "rpn_epochs" if slug == "02_fpn" else "epochs"
        _refused(slug, {epochs: 0}, f"{epochs} = 0", ">= 1")
        _refused(slug, {"max_steps": 0}, "max_steps = 0", ">= 1, or None")
        if "seeds" in {f.name for f in dataclasses.fields(PAPERS[slug].config_cls)}:
            _refused(slug, {"seeds": []}, "seeds = []", "non-empty")
        lr = "base_lr" if slug == "10_mae" else "lr"
        _refused(slug, {lr: 0.0}, f"{lr} = 0.0", "> 0")
        _refused(slug, {"batch_size": 0}, "batch_size = 0", ">= 1")


def test_runner_cli_refuses_out_of_range_override_in_seconds(tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "paperlib", "run", "10_mae", "--profile", "ci",
                        "-o", "mask_ratio=1.5", "--out", str(tmp_path / "out")],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert time.perf_counter() - t0 < 20
    assert r.returncode != 0 and "mask_ratio = 1.5" in r.stdout + r.stderr and "(0, 1)" in r.stdout + r.stderr
    assert not (tmp_path / "out" / "10_mae" / "results.json").exists()


def _bad_value(rng: Range, current):
    """A value just outside `rng` (None when the range admits everything of that type)."""
    if isinstance(current, (list, tuple, dict)):
        if rng.nonempty:
            return [] if not isinstance(current, dict) else {}
        if rng.choices is not None:
            return ["no_such_choice"]
        if rng.lo is not None:
            return [rng.lo - 1]
        return None
    if rng.choices is not None:
        return "no_such_choice"
    if rng.lo is not None:
        v = rng.lo if rng.lo_open else rng.lo - 1
        return -1 if v == 0 and rng.zero else v       # 0 is a sentinel there
    if rng.hi is not None:
        return rng.hi if rng.hi_open else rng.hi + 1
    return None


@pytest.mark.parametrize("slug", OWNED)
def test_every_ranged_field_refuses_a_value_just_outside(slug):
    """Mutation check of each RANGES table: every listed field, set just outside its range, is refused
    naming that field (so a table entry that checks nothing fails here)."""
    import importlib

    spec = PAPERS[slug]
    mod = importlib.import_module(spec.module)
    table = mod.RANGES
    base = get_config(slug, "ci")
    tried = 0
    for name, rng in table.items():
        bad = _bad_value(rng, getattr(base, name))
        if bad is None:
            continue
        if isinstance(bad, float) and isinstance(getattr(base, name), int) and float(bad).is_integer():
            bad = int(bad)
        if typing.get_type_hints(spec.config_cls)[name] is float and isinstance(bad, int):
            bad = float(bad)
        with pytest.raises(ConfigError, match=rf"\b{name}\b"):
            get_config(slug, "ci", {name: bad})
        tried += 1
    assert tried >= 10


def _numeric_or_list(tp) -> bool:
    args = typing.get_args(tp)
    return tp in (int, float, list, dict) or typing.get_origin(tp) in (list, dict) or \
        any(_numeric_or_list(a) for a in args if a is not type(None))


# fields whose ranges are checked by dedicated code in __post_init__ rather than the RANGES table
CHECKED_ELSEWHERE = {
    "01_resnext": {"c1_pair", "c2_models", "c5_pairs", "fig5_pairs", "ablation_models", "throughput_models",
                   "arms"},
    "02_fpn": {"rpn_variants", "det_variants", "fast_rcnn_variants", "fast_rcnn_proposals_train",
               "fast_rcnn_proposals_test", "rpn_iters", "rpn_step_iters", "det_iters", "det_step_iters",
               "fast_rcnn_iters", "fast_rcnn_step_iters"},
    "04_panoptic_segmentation": {"min_effect_pts", "miou_change_max_pts"},
    "08_regnet": {"spaces", "n_per_space", "n_by_space", "executor_kwargs", "trend_regimes", "trend_n",
                  "trend_epochs", "trend_lr", "effnet_pairs", "effnet_train_batch"},
    "10_mae": {"aug_arms", "decoder_width_arms", "scratch_ema", "scratch_epochs", "scratch_grad_accum",
               "scratch_warmup_epochs", "scratch_drop_path", "scratch_reprob", "ft_batch_size", "ft_grad_accum",
               "ft_reprob", "ft_mixup", "ft_cutmix", "ft_mixup_prob", "ft_mixup_switch_prob", "ft_smoothing",
               "ft_min_lr"},
}


@pytest.mark.parametrize("slug", OWNED)
def test_every_numeric_or_list_field_has_a_range(slug):
    import importlib

    spec = PAPERS[slug]
    table = importlib.import_module(spec.module).RANGES
    hints = typing.get_type_hints(spec.config_cls)
    missing = [f.name for f in dataclasses.fields(spec.config_cls)
               if _numeric_or_list(hints[f.name]) and f.name not in table and f.name not in CHECKED_ELSEWHERE[slug]
               and f.name != "data_seed"]
    assert not missing, f"{slug}: numeric / list fields without a declared range: {missing}"


def test_cross_field_and_arm_checks():
    _refused("01_resnext", {"c1_pair": ["resnext_mini_1x32d"]}, "c1_pair", "two model names")
    _refused("01_resnext", {"arms": [{"name": "a", "dataset": "cifar10", "epochs": 0}]},
             "arms[0]", "'epochs'", ">= 1")
    _refused("04_panoptic_segmentation", {"min_objects": 5, "max_objects": 3}, "min_objects", "max_objects")
    _refused("04_panoptic_segmentation", {"blob_area": [30, 4]}, "blob_area")
    _refused("08_regnet", {"flop_window": [5e6, 3e6]}, "flop_window", "lo < hi")
    _refused("02_fpn", {"dataset": "voc"}, "dataset = 'voc'", "'scenes', 'coco'")
    _refused("10_mae", {"dataset": "mnist"}, "dataset = 'mnist'", "'cifar10'")


# ----------------------------------------------------------------------------- checkpoints (case 5)
def _checkpoint_bytes(tmp_path):
    import torch
    from torch import nn

    from paperlib.engine import TrainConfig, make_loader, train
    from torch.utils.data import TensorDataset

    torch.manual_seed(0)
    ds = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    ck = tmp_path / "good.pt"
    train(nn.Linear(4, 2), make_loader(ds, 8, shuffle=True, seed=0), TrainConfig(epochs=1, lr=0.1),
          ckpt_path=ck, progress=False)
    return ck.read_bytes()


def test_truncated_checkpoint_names_the_file(tmp_path):
    import torch
    from torch import nn

    from paperlib.engine import CheckpointError, TrainConfig, make_loader, train
    from paperlib.engine.checkpoint import load_checkpoint
    from torch.utils.data import TensorDataset

    data = _checkpoint_bytes(tmp_path)
    for cut in (0, 10, len(data) // 2, len(data) - 10):       # EOFError, miniz, OSError [Errno 22] in torch
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(data[:cut])
        t0 = time.perf_counter()
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(bad)
        assert time.perf_counter() - t0 < 20
        assert str(bad) in str(e.value) and "truncated or corrupt" in str(e.value) and "delete it" in str(e.value)
    # a resumed run refuses it the same way, before training
    ds = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    with pytest.raises(CheckpointError, match="cut10.pt"):
        train(nn.Linear(4, 2), make_loader(ds, 8), TrainConfig(epochs=1), ckpt_path=tmp_path / "cut10.pt",
              progress=False)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")


# ----------------------------------------------------------------------------- divergence (case 7)
def _growing_loss_run(values, epochs=1):
    import torch
    from torch import nn

    from paperlib.engine import TrainConfig, make_loader, train
    from torch.utils.data import TensorDataset

    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    it = iter(values)

    def step(m, batch, device):          # a loss following `values`, with a gradient path to the model
        return m(batch[0]).sum() * 0 + next(it)

    ds = TensorDataset(torch.randn(len(values) // epochs * 2, 2))
    return train(model, make_loader(ds, 2), TrainConfig(epochs=epochs, lr=0.01), step_fn=step, progress=False)


def test_loss_that_grows_by_orders_of_magnitude_warns_and_is_recorded():
    from paperlib.engine import loop

    before = len(loop.DIVERGED_RUNS)
    with pytest.warns(UserWarning, match=r"diverges: 3\.9e\+10 .*first step"):
        h = _growing_loss_run([2.3, 40.0, 3.9e10, 1e3])
    assert h["diverged"] == [True] and h["loss_growth"][0] == pytest.approx(3.9e10 / 2.3)
    # ... and kept for the recorder, which writes it into results.json ("training_divergence")
    assert len(loop.DIVERGED_RUNS) == before + 1
    assert loop.DIVERGED_RUNS[-1]["loss"] == pytest.approx(3.9e10) and loop.DIVERGED_RUNS[-1]["step"] == 3
    assert all(math.isfinite(v) for v in h["train_loss"])


def test_ordinary_runs_are_not_flagged_and_the_nan_guard_stays():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = _growing_loss_run([2.3, 1.9, 1.2, 0.4, 0.3, 0.2, 25.0, 0.1], epochs=2)   # a 10x spike is not divergence
    assert h["diverged"] == [False, False] and h["loss_growth"][1] == pytest.approx(25.0 / 2.3)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        _growing_loss_run([2.3, float("nan")])
