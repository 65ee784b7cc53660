"""Configs stay plain data, and data_root is refused where the data is generated.

- 08's Config checks ``effnet_pairs`` by form without importing timm or torch (issue 10, item 2: "checking an
  override must not import timm"); the names' existence is checked when experiments.regnet resolves them.
- paths.check_data_root refuses a data_root given with generated data: "synthetic" and 02/04/05's embedded
  "scenes", unless a field names a file that is looked up under data_root (02's backbone_weights, 05's
  pretrain_weights)."""
import json
import os
import subprocess
import sys

import pytest

from paperlib.config import get_config
from paperlib.paths import check_data_root
from paperlib.runner.plan import prepare
from paperlib.runner import UsageError


def test_regnet_config_with_effnet_pairs_imports_neither_timm_nor_torch():
    code = ("import sys, json; from paperlib.config import get_config, ConfigError\n"
            "c = get_config('08_regnet', 'gpu', {'effnet_pairs': [['efficientnet_b0', 'regnety_400mf'], "
            "['tf_efficientnet_b3', 'regnetx_400mf', 288]]})\n"
            "try:\n    get_config('08_regnet', 'gpu', {'effnet_pairs': [['efficientnet_b0', 'regnety_400mf', 4]]})\n"
            "except ConfigError as e:\n    err = str(e)\n"
            "print(json.dumps([len(c.effnet_pairs), 'timm' in sys.modules, 'torch' in sys.modules, err]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    n, timm_loaded, torch_loaded, err = json.loads(out.stdout.strip().splitlines()[-1])
    assert (n, timm_loaded, torch_loaded) == (2, False, False)
    assert "effnet_pairs[0]" in err and "resolution must be an integer >= 8" in err


def test_regnet_config_module_has_no_upward_import():
    src = open(os.path.join(os.path.dirname(__file__), "..", "paperlib", "configs", "regnet.py")).read()
    assert "experiments" not in "".join(l for l in src.splitlines() if "import" in l)
    from paperlib.configs.regnet import EFFNET_PAIRS, parse_effnet_pairs
    from paperlib.experiments import regnet as ex
    assert ex.EFFNET_PAIRS is EFFNET_PAIRS          # one table, re-exported under the old names
    assert parse_effnet_pairs(EFFNET_PAIRS) == ex.resolve_effnet_pairs(EFFNET_PAIRS)


@pytest.mark.parametrize("slug", ["02_fpn", "04_panoptic_segmentation", "05_rethinking_pretraining",
                                  "01_resnext", "08_regnet", "10_mae"])
def test_data_root_with_generated_data_is_an_error_naming_the_field(slug, tmp_path):
    cfg = get_config(slug, "ci")
    assert cfg.dataset in ("scenes", "synthetic")
    with pytest.raises(ValueError, match=rf"data_root='{tmp_path}' was given but the config's dataset is "
                                         rf"'{cfg.dataset}'"):
        check_data_root(str(tmp_path), cfg)
    assert check_data_root(None, cfg) is None


def test_data_root_with_real_data_or_a_file_under_it(tmp_path):
    assert check_data_root(str(tmp_path), get_config("02_fpn", "ci", {"dataset": "coco"})) == tmp_path.resolve()
    assert check_data_root(str(tmp_path), get_config("04_panoptic_segmentation", "paper")) == tmp_path.resolve()
    # scenes + a relative weights file: data_root is where that file is looked up, so it is accepted
    w = get_config("02_fpn", "ci", {"backbone_weights": "r50.pth"})
    assert w.dataset == "scenes" and check_data_root(str(tmp_path), w) == tmp_path.resolve()
    p = get_config("05_rethinking_pretraining", "ci", {"pretrain_weights": "R-50-GN.pth"})
    assert check_data_root(str(tmp_path), p) == tmp_path.resolve()
    # an absolute weights path does not read data_root: refused again
    a = get_config("02_fpn", "ci", {"backbone_weights": str(tmp_path / "r50.pth")})
    with pytest.raises(ValueError, match="'scenes'"):
        check_data_root(str(tmp_path), a)
    with pytest.raises(ValueError, match="does not exist"):
        check_data_root(str(tmp_path / "missing"), get_config("02_fpn", "ci", {"dataset": "coco"}))


def test_runner_refuses_data_root_with_scenes_before_any_kernel(tmp_path):
    with pytest.raises(UsageError, match=r"02_fpn: -p data_root=.* dataset is 'scenes'"):
        prepare(["02_fpn"], "ci", params={"data_root": str(tmp_path)}, out=str(tmp_path / "out"))
