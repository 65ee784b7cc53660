"""Training-step throughput of our resnext50_32x4d vs torchvision's and timm's (same process).

One step = forward + cross-entropy + backward + SGD(momentum 0.9, wd 1e-4) step, fp32, train mode,
random inputs.  The three implementations are timed in interleaved rounds (A, B, C, A, B, C, ...),
each round = ``--steps`` steps after ``--warmup`` untimed steps per model; we report the median
images/s over rounds and the ratio ours / reference (> 1 = ours faster) as the median of the
per-round ratios (robust to the drift of a shared machine).

    .venv/bin/python benchmarks/bench_resnext.py                 # CPU, batch 16, 112 px, 1 thread
    .venv/bin/python benchmarks/bench_resnext.py --size 224 --batch 16 --threads 2 --rounds 5

Writes benchmarks/results/resnext_train_throughput.json (``--out`` to change).

``--channels-last`` converts all three models and their inputs.  Measured here (ResNeXt-50, batch 16,
112 px, one thread, shared 2-core CPU) it made every implementation ~1.2x faster (our model:
1.07-1.25x per round vs NCHW), so it is a property of the memory format rather than of one
implementation; the training engine exposes it as ``TrainConfig.channels_last`` (the notebook's
``channels_last`` option).  The three implementations run the same operator sequence (our AnyNet
block = torchvision's Bottleneck with pycls names), so the expected ratio is 1.0 within noise.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(impl: str, name: str, num_classes: int):
    if impl == "ours":
        from paperlib.models import create_model
        return create_model(name, num_classes=num_classes)
    if impl == "torchvision":
        import torchvision
        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if impl == "timm":
        import timm
        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    raise ValueError(impl)


def make_step(model, batch, size, num_classes, device, channels_last):
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnext50_32x4d")
    ap.add_argument("--impls", default="ours,torchvision,timm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--num-classes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/resnext_train_throughput.json"))
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    impls = args.impls.split(",")
    steps = {}
    for impl in impls:
        torch.manual_seed(0)
        steps[impl] = make_step(build(impl, args.model, args.num_classes), args.batch, args.size,
                                args.num_classes, device, args.channels_last)
        for _ in range(args.warmup):
            steps[impl]()
    ips = {impl: [] for impl in impls}
    for r in range(args.rounds):
        order = impls if r % 2 == 0 else impls[::-1]      # alternate order to cancel drift
        for impl in order:
            sync(device)
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[impl]()
            sync(device)
            ips[impl].append(args.batch * args.steps / (time.perf_counter() - t))
    med = {impl: statistics.median(v) for impl, v in ips.items()}
    # per-round ratios (the implementations of one round ran back to back, so slow drifts of a
    # shared machine cancel); the headline ratio is their median
    ratios = {f"ours/{impl}": statistics.median(o / r for o, r in zip(ips["ours"], ips[impl]))
              for impl in impls if impl != "ours" and "ours" in ips}
    ratio_rounds = {f"ours/{impl}": [round(o / r, 4) for o, r in zip(ips["ours"], ips[impl])]
                    for impl in impls if impl != "ours" and "ours" in ips}
    res = {
        "what": "training step (fwd + CE + bwd + SGD momentum step), fp32, images/s, median over rounds",
        "model": args.model, "batch": args.batch, "image_size": args.size, "num_classes": args.num_classes,
        "steps_per_round": args.steps, "warmup_steps": args.warmup, "rounds": args.rounds,
        "threads": args.threads, "device": str(device), "channels_last": args.channels_last,
        "images_per_s_median": med, "images_per_s_rounds": ips,
        "ratios": ratios, "ratios_per_round": ratio_rounds,
        "ratio_definition": "median over rounds of (ours img/s / reference img/s) within the round",
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "machine": platform.machine(), "processor": platform.processor(),
        "command": "python benchmarks/bench_resnext.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    for impl in impls:
        print(f"{impl:12s} {med[impl]:8.2f} img/s   rounds: " + " ".join(f"{v:.2f}" for v in ips[impl]))
    for k, v in ratios.items():
        print(f"{k:24s} {v:.3f}x   per round: {ratio_rounds[k]}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print("wrote", args.out)
    return res


if __name__ == "__main__":
    main()
