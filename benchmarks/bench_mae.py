"""MAE Table 2 / Table 1c analogue on CPU: forward+backward wall-clock of the visible-only encoder
+ decoder vs the encoder with mask tokens + the same decoder, same process, interleaved reps.

    .venv/bin/python benchmarks/bench_mae.py                       # ViT-B/16 @224, 75 %, dec 8x512
    .venv/bin/python benchmarks/bench_mae.py --model mae_vit_base_patch16_dec512d8b mae_vit_large_patch16_dec512d8b --batch 2 1

Writes benchmarks/results/mae_speedup.json (median seconds per arm, ratio, FLOPs ratio, setup).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paperlib.models import create_model  # noqa: E402
from paperlib.models.mae import mae_flops_ratio  # noqa: E402


def step_time(model, imgs, ids) -> float:
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    loss, _, _ = model(imgs, ids_shuffle=ids)
    loss.backward()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", nargs="+", default=["mae_vit_base_patch16_dec512d8b"],
                    help="one or more MAE builders (e.g. add mae_vit_large_patch16_dec512d8b)")
    ap.add_argument("--batch", type=int, nargs="+", default=[2], help="batch per model (last repeats)")
    ap.add_argument("--img", type=int, default=224)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "mae_speedup.json"))
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    results = []
    for i, name in enumerate(a.model):
        results.append(bench_one(a, name, a.batch[min(i, len(a.batch) - 1)]))
    out = {"results": results, "command": "python benchmarks/bench_mae.py "
           + " ".join(argv if argv is not None else sys.argv[1:]),
           "note": "speed-up = median(w/ [M] encoder) / median(visible-only); its ceiling is the "
                   "FLOPs ratio (ViT-B + 8x512: 2.35, ViT-L + 8x512: 3.23)."}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
    return out


def bench_one(a, model_name, batch):
    torch.manual_seed(0)
    dev = torch.device(a.device)
    fast = create_model(model_name, img_size=a.img).to(dev)                    # visible-only encoder
    slow = create_model(model_name, img_size=a.img, mask_token_in_encoder=True).to(dev)  # w/ [M]
    imgs = torch.randn(batch, 3, a.img, a.img, device=dev)
    ids = fast.sample_ids(batch, a.mask_ratio, dev)                       # same mask for both arms
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    for m in (fast, slow):                                                  # warm-up
        step_time(m, imgs, ids)
    times = {"visible_only": [], "mask_token_encoder": []}
    for r in range(a.reps):                                                 # interleaved, alternating order
        order = [("visible_only", fast), ("mask_token_encoder", slow)]
        for name, m in (order if r % 2 == 0 else order[::-1]):
            sync()
            t = step_time(m, imgs, ids)
            sync()
            times[name].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["mask_token_encoder"] / med["visible_only"]
    # per-rep ratios of adjacent (interleaved) measurements: robust to slow drifts of machine load
    pair = [s / f for s, f in zip(times["mask_token_encoder"], times["visible_only"])]
    enc = fast
    flops = mae_flops_ratio(a.img, enc.patch_size, enc.embed_dim, enc.depth, enc.decoder_embed_dim,
                            len(enc.decoder_blocks), a.mask_ratio)
    res = {
        "model": model_name, "img_size": a.img, "batch": batch, "mask_ratio": a.mask_ratio,
        "decoder": f"{len(enc.decoder_blocks)}x{enc.decoder_embed_dim}", "reps": a.reps,
        "threads": a.threads, "device": str(dev), "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "seconds": times, "median_s": med, "speedup": ratio, "paired_ratio_median": statistics.median(pair), "paired_ratios": pair,
        "min_ratio": min(times["mask_token_encoder"]) / min(times["visible_only"]), "flops_ratio": flops,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "goal": 3.0,
    }
    del fast, slow
    print(json.dumps({k: res[k] for k in ("model", "batch", "median_s", "speedup", "paired_ratio_median", "min_ratio", "flops_ratio")}, indent=2))
    return res


if __name__ == "__main__":
    main()
