"""07 LVIS: the Mask R-CNN path of the gpu / paper profiles under a 2-process gloo torchrun on the CPU
(toy scale): data-parallel training (each rank its share of one repeat-factor stream, gradients
all-reduced by DistributedDataParallel) and the detections of both ranks' test shards gathered on
every rank before the LVIS evaluation."""
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import json, sys
from itertools import islice

import torch
import torch.distributed as dist

from paperlib.config import get_config
from paperlib.engine.distributed import shutdown_distributed
from paperlib.experiments import lvis as X
from paperlib.experiments import lvis_detectors as D

torch.set_num_threads(1)
cfg = get_config("07_lvis", "gpu", dict(num_categories=8, n_train=6, n_val=5, image_size=48, max_objects=3,
                                         backbone="tiny", min_size=48, iters=2, batch_images=1, seeds=[0],
                                         rfs_multipliers=[0.0], class_aware=False, n_resamples=2,
                                         neg_counts=[1, 2], size_fractions=[0.5, 1.0], n_boot=50, threads=1))
data = X.prepare(cfg)
models = {}
train = D.train_maskrcnn


def keep(ds, cfg, **kw):                        # train_all's own call, the model kept for the checks
    models[kw["t"]] = m = train(ds, cfg, **kw)
    return m


D.train_maskrcnn = keep
dets, _ = X.train_all(cfg, data)
rank, world = dist.get_rank(), dist.get_world_size()
rows = X.rfs_rows(cfg, data, dets)
params = {f"{t:g}/{k}": float(v.double().sum()) for t, m in models.items() for k, v in m.state_dict().items()
          if v.is_floating_point()}
drawn = list(islice(D.image_stream(data.train, t=X.t_syn(cfg), seed=0, rank=rank, world_size=world), 8))
json.dump({"rank": rank, "world": world, "params": params, "rows": rows, "drawn": drawn,
           "dets": {f"{m:g}": d for (m, s), d in dets.items()}}, open(sys.argv[1] + f"/rank{rank}.json", "w"))
shutdown_distributed()
'''


def test_maskrcnn_trains_data_parallel_under_torchrun(tmp_path):
    (tmp_path / "lvis_ddp_job.py").write_text(SCRIPT)
    # --standalone: torchrun's own rendezvous on a free local port
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(tmp_path / "lvis_ddp_job.py"), str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert (r0["world"], r1["rank"]) == (2, 1)
    # the ranks drew different images from one stream (detectron2's sharding) ...
    from itertools import islice

    from paperlib.data.samplers import image_repeat_factors, repeat_factor_stream
    from paperlib.config import get_config
    from paperlib.experiments import lvis as X
    cfg = get_config("07_lvis", "gpu", dict(num_categories=8, n_train=6, n_val=5, image_size=48, max_objects=3))
    data = X.prepare(cfg, masks=False)
    one = list(islice(repeat_factor_stream(image_repeat_factors(data.train.image_categories(), X.t_syn(cfg)),
                                           seed=0), 16))
    assert [x for pair in zip(r0["drawn"], r1["drawn"]) for x in pair] == one
    assert r0["drawn"] != r1["drawn"]
    # ... yet end with the same weights: DistributedDataParallel all-reduced the gradients
    assert r0["params"].keys() == r1["params"].keys() and len(r0["params"]) > 20
    assert r0["params"] == r1["params"]
    # every rank holds every test image's detections (each rank ran half of them) and scores them alike
    val_ids = {im["id"] for im in data.val_json["images"]}
    assert r0["dets"] == r1["dets"] and list(r0["dets"]) == ["0"]
    assert {d["image_id"] for d in r0["dets"]["0"]} == val_ids
    assert all("segmentation" in d for d in r0["dets"]["0"])
    assert r0["rows"] == r1["rows"] and [row["t_multiplier"] for row in r0["rows"]] == [0.0]
