"""Tests for paperlib.engine: resume equality, NaN guard, weight-decay groups, schedules,
DDP on 2 CPU processes (gloo, via torchrun), dict-of-losses models, grad accumulation, logging."""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from paperlib.engine import (TrainConfig, build_optimizer, build_scheduler, lr_at, make_loader,
                             seed_everything, train)
from paperlib.engine.checkpoint import load_checkpoint

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- fixtures
class NoisyDataset(Dataset):
    """Random tensors plus per-sample augmentation noise drawn from the global torch RNG, so that
    resume equality also checks that RNG states are restored."""

    def __init__(self, n=96, dim=12, classes=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, dim, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.randn(self.x.shape[1]), self.y[i]


def mlp(seed=0, dim=12, classes=4, dropout=0.2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(16, classes))


def small_cnn(seed=0, classes=6):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def assert_same_weights(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


class Interrupt(RuntimeError):
    pass


def interrupting_step(after_calls: int):
    """A step_fn that behaves like the default one but 'crashes' after `after_calls` calls."""
    from paperlib.engine import classification_step
    calls = {"n": 0}

    def fn(model, batch, device):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise Interrupt("simulated crash")
        return classification_step(model, batch, device)
    return fn


CFG = dict(lr=0.05, optimizer="sgd", warmup_epochs=0.5, warmup_start_factor=0.1, log_every=2)


# ----------------------------------------------------------------------------- resume
def test_resume_equality_epoch_boundary(tmp_path):
    ds, val = NoisyDataset(), NoisyDataset(n=32, seed=1)
    cfg = TrainConfig(epochs=3, **CFG)

    m1 = mlp()
    h1 = train(m1, make_loader(ds, 16, shuffle=True, seed=3), cfg, val_loader=make_loader(val, 16),
               ckpt_path=tmp_path / "a.pt", progress=False)

    ck = tmp_path / "b.pt"
    m2 = mlp()
    with pytest.raises(Interrupt):   # 6 iterations per epoch; crash in the middle of epoch 3
        train(m2, make_loader(ds, 16, shuffle=True, seed=3), cfg, val_loader=make_loader(val, 16),
              ckpt_path=ck, progress=False, step_fn=interrupting_step(6 * 2 + 3))
    state = load_checkpoint(ck)
    assert state["epoch"] == 2 and state["global_step"] == 12
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]   # atomic: no leftovers

    m3 = mlp(seed=123)   # a different init: everything must come from the checkpoint
    h3 = train(m3, make_loader(ds, 16, shuffle=True, seed=3), cfg, val_loader=make_loader(val, 16),
               ckpt_path=ck, progress=False)
    assert_same_weights(m1, m3)
    assert h1["train_loss"] == h3["train_loss"] and h1["val_err"] == h3["val_err"]
    assert h1["steps"] == h3["steps"] and h3["epoch"] == [1, 2, 3]

    # a finished run resumed does nothing and returns the same history
    m4 = mlp(seed=7)
    h4 = train(m4, make_loader(ds, 16, shuffle=True, seed=3), cfg, ckpt_path=ck, progress=False)
    assert_same_weights(m1, m4)
    assert h4["train_loss"] == h1["train_loss"]


def test_resume_equality_mid_epoch(tmp_path):
    ds = NoisyDataset()
    cfg = TrainConfig(epochs=2, ckpt_every_steps=2, **CFG)
    m1 = mlp()
    h1 = train(m1, make_loader(ds, 16, shuffle=True, seed=5), cfg, progress=False)

    ck = tmp_path / "mid.pt"
    with pytest.raises(Interrupt):   # crash at iteration 6 of epoch 2; last checkpoint after step 10
        train(mlp(), make_loader(ds, 16, shuffle=True, seed=5), cfg, ckpt_path=ck, progress=False,
              step_fn=interrupting_step(6 + 5))
    state = load_checkpoint(ck)
    assert (state["epoch"], state["global_step"], state["iter_in_epoch"]) == (1, 10, 4)

    m3 = mlp(seed=99)
    h3 = train(m3, make_loader(ds, 16, shuffle=True, seed=5), cfg, ckpt_path=ck, progress=False)
    assert_same_weights(m1, m3)
    assert h1["train_loss"] == h3["train_loss"] and h1["train_err"] == h3["train_err"]


def test_same_seed_same_result_and_max_steps():
    ds = NoisyDataset()
    cfg = TrainConfig(epochs=3, max_steps=8, **CFG)
    a, b = mlp(), mlp()
    ha = train(a, make_loader(ds, 16, shuffle=True, seed=1), cfg, progress=False)
    train(b, make_loader(ds, 16, shuffle=True, seed=1), cfg, progress=False)
    assert_same_weights(a, b)
    assert ha["epoch"] == [1, 2]          # 6 steps in epoch 1, stops after 2 more
    assert ha["steps"][-1][0] == 8


# ----------------------------------------------------------------------------- EMA of weights
def _float_state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_ema_after_one_step_is_the_lerp_of_init_and_params():
    d = 0.9
    m = mlp(dropout=0.0)
    init = _float_state(m)
    h = train(m, make_loader(NoisyDataset(), 16), TrainConfig(epochs=1, max_steps=1, lr=0.5, ema_decay=d),
              progress=False)
    assert h.ema is not None and h.ema is not m and type(h.ema) is type(m) and not h.ema.training
    ema, now = h.ema.state_dict(), m.state_dict()
    assert ema.keys() == now.keys()
    for k in now:
        if now[k].is_floating_point():     # parameters and BatchNorm running stats: d * init + (1 - d) * params
            assert not torch.equal(now[k], init[k]), k
            torch.testing.assert_close(ema[k], d * init[k] + (1 - d) * now[k], rtol=0, atol=1e-6)
        else:                              # num_batches_tracked: copied
            assert torch.equal(ema[k], now[k]), k
    # and after a second step: d * ema_1 + (1 - d) * params_2 (a constant decay: no timm warm-up)
    ema1 = {k: v.clone() for k, v in ema.items()}
    m2 = mlp(dropout=0.0)
    h2 = train(m2, make_loader(NoisyDataset(), 16), TrainConfig(epochs=1, max_steps=2, lr=0.5, ema_decay=d),
               progress=False)
    w = m2.state_dict()["4.weight"]
    torch.testing.assert_close(h2.ema.state_dict()["4.weight"], d * ema1["4.weight"] + (1 - d) * w, rtol=0, atol=1e-6)


def test_ema_off_by_default_changes_nothing(tmp_path):
    assert TrainConfig().ema_decay == 0.0
    ds, val = NoisyDataset(), NoisyDataset(n=32, seed=1)
    a, b = mlp(), mlp()
    ha = train(a, make_loader(ds, 16, shuffle=True, seed=3), TrainConfig(epochs=2, **CFG),
               val_loader=make_loader(val, 16), ckpt_path=tmp_path / "a.pt", progress=False)
    hb = train(b, make_loader(ds, 16, shuffle=True, seed=3), TrainConfig(epochs=2, ema_decay=0.99, **CFG),
               val_loader=make_loader(val, 16), progress=False)
    assert ha.ema is None and load_checkpoint(tmp_path / "a.pt")["ema"] is None
    assert not [k for k in ha if k.endswith("_ema")]
    assert_same_weights(a, b)                          # the EMA never touches the training trajectory
    assert ha["train_loss"] == hb["train_loss"] and ha["val_err"] == hb["val_err"]
    assert {"val_err_ema", "val_loss_ema"} <= set(hb) and len(hb["val_err_ema"]) == 2
    import json
    import pickle
    json.dumps(hb)                                     # the history stays JSON-friendly
    assert type(pickle.loads(pickle.dumps(hb))) is dict
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=bad)


def test_ema_resume_equality_epoch_boundary_and_mid_epoch(tmp_path):
    ds, val = NoisyDataset(), NoisyDataset(n=32, seed=1)
    cfg = TrainConfig(epochs=3, ema_decay=0.8, ckpt_every_steps=4, **CFG)
    run = lambda m, **kw: train(m, make_loader(ds, 16, shuffle=True, seed=3), cfg,
                                val_loader=make_loader(val, 16), progress=False, **kw)
    h1 = run(mlp())
    for crash, at in ((6 * 2 + 3, (2, 12, 0)), (6 + 5, (1, 8, 2))):   # epoch boundary; mid-epoch (step 8)
        ck = tmp_path / f"ema{crash}.pt"
        with pytest.raises(Interrupt):
            run(mlp(), ckpt_path=ck, step_fn=interrupting_step(crash))
        state = load_checkpoint(ck)
        assert (state["epoch"], state["global_step"], state["iter_in_epoch"]) == at
        assert state["ema"] is not None
        h3 = run(mlp(seed=123), ckpt_path=ck)
        assert_same_weights(h1.ema, h3.ema)
        assert h1["val_err_ema"] == h3["val_err_ema"] and h1["val_loss_ema"] == h3["val_loss_ema"]
        assert h1["train_loss"] == h3["train_loss"]
    h4 = run(mlp(seed=7), ckpt_path=ck)               # a finished run resumed: the same EMA comes back
    assert_same_weights(h1.ema, h4.ema)


def test_ema_resume_from_a_checkpoint_without_ema_warns(tmp_path):
    ds = NoisyDataset()
    ck = tmp_path / "plain.pt"
    train(mlp(), make_loader(ds, 16), TrainConfig(epochs=1, **CFG), ckpt_path=ck, progress=False)
    m = mlp()
    with pytest.warns(UserWarning) as rec:
        h = train(m, make_loader(ds, 16), TrainConfig(epochs=2, ema_decay=0.5, **CFG), ckpt_path=ck, progress=False)
    msgs = [str(w.message) for w in rec]
    assert any("no EMA state" in x for x in msgs) and any("differs in ['ema_decay']" in x for x in msgs)
    assert h.ema is not None and not torch.equal(h.ema.state_dict()["0.weight"], m.state_dict()["0.weight"])


# ----------------------------------------------------------------------------- NaN guard
class NaNAt(nn.Module):
    def __init__(self, at_call: int):
        super().__init__()
        self.lin = nn.Linear(12, 4)
        self.calls, self.at = 0, at_call

    def forward(self, x):
        self.calls += 1
        out = self.lin(x)
        return out * float("nan") if self.calls == self.at else out


def test_nan_guard_names_the_step():
    ds = NoisyDataset()   # 6 iterations per epoch
    with pytest.raises(FloatingPointError, match=r"non-finite loss at epoch 2 step 3 \(global step 9\)"):
        train(NaNAt(9), make_loader(ds, 16), TrainConfig(epochs=3, lr=0.01), progress=False)


def test_nan_guard_dict_losses_names_component():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(12, 1)

        def forward(self, x):
            return {"loss_ok": self.lin(x).pow(2).mean(), "loss_bad": self.lin(x).mean() * float("inf")}

    with pytest.raises(FloatingPointError, match=r"epoch 1 step 1 \(global step 1\).*loss_bad=-?inf"):
        train(M(), make_loader(NoisyDataset(), 16), TrainConfig(epochs=1), progress=False)


# ----------------------------------------------------------------------------- optimizer groups
def test_no_weight_decay_on_norms_and_biases():
    model = small_cnn()
    opt = build_optimizer(model, TrainConfig(weight_decay=1e-4))
    by_id = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g for g in opt.param_groups}
    decay = sorted(by_id[id(p)] for p in groups["decay"]["params"])
    no_decay = sorted(by_id[id(p)] for p in groups["no_decay"]["params"])
    assert decay == ["0.weight", "5.weight"]
    assert no_decay == ["0.bias", "1.bias", "1.weight", "5.bias"]
    assert groups["decay"]["weight_decay"] == 1e-4 and groups["no_decay"]["weight_decay"] == 0.0

    opt = build_optimizer(model, TrainConfig(weight_decay=1e-4, wd_on_norm_bias=True))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 1e-4
    assert len(opt.param_groups[0]["params"]) == 6

    for name, cls in (("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)):
        assert isinstance(build_optimizer(model, TrainConfig(optimizer=name)), cls)
    assert type(build_optimizer(model, TrainConfig(optimizer="lars"))).__name__ == "LARS"


def test_no_weight_decay_hook_and_custom_groups_with_lr_scale():
    class ViTish(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
            self.head = nn.Linear(8, 2)

        def no_weight_decay(self):
            return {"pos_embed"}

    m = ViTish()
    opt = build_optimizer(m, TrainConfig(weight_decay=0.05, optimizer="adamw"))
    nd = [g for g in opt.param_groups if g["weight_decay"] == 0][0]
    assert any(p is m.pos_embed for p in nd["params"])

    groups = [{"params": [m.pos_embed], "weight_decay": 0.0, "lr_scale": 0.25},
              {"params": list(m.head.parameters()), "lr_scale": 1.0}]
    cfg = TrainConfig(lr=1.0, schedule="constant", weight_decay=0.05)
    opt = build_optimizer(m, cfg, param_groups=groups)
    sched = build_scheduler(opt, cfg, steps_per_epoch=10)
    sched.step(3)
    assert [g["lr"] for g in opt.param_groups] == [0.25, 1.0]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.05]


# ----------------------------------------------------------------------------- schedules
def test_warmup_cosine_values():
    cfg = TrainConfig(epochs=10, lr=0.8, schedule="cosine", warmup_epochs=2, warmup_start_factor=0.1,
                      min_lr=0.01)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)

    def expected(it):
        t = it / 5
        if t < 2:
            return 0.8 * (0.1 + 0.9 * t / 2)
        return 0.01 + (0.8 - 0.01) * 0.5 * (1 + math.cos(math.pi * (t - 2) / 8))

    for it in (0, 1, 4, 9, 10, 11, 25, 30, 49, 50):
        sched.step(it)
        assert opt.param_groups[0]["lr"] == pytest.approx(expected(it), rel=1e-12, abs=1e-15), it
    assert lr_at(0.0, cfg) == pytest.approx(0.08)
    assert lr_at(2.0, cfg) == pytest.approx(0.8)
    assert lr_at(6.0, cfg) == pytest.approx(0.01 + 0.79 * 0.5)
    assert lr_at(10.0, cfg) == pytest.approx(0.01)


def test_step_schedule_values():
    cfg = TrainConfig(epochs=9, lr=0.1, schedule="step", milestones=[3, 6], gamma=0.1,
                      warmup_epochs=1, warmup_start_factor=0.0)
    assert lr_at(0.0, cfg) == 0.0
    assert lr_at(0.5, cfg) == pytest.approx(0.05)
    assert lr_at(1.0, cfg) == pytest.approx(0.1)
    assert lr_at(2.99, cfg) == pytest.approx(0.1)
    assert lr_at(3.0, cfg) == pytest.approx(0.01)
    assert lr_at(5.5, cfg) == pytest.approx(0.01)
    assert lr_at(6.0, cfg) == pytest.approx(0.001)
    const = TrainConfig(epochs=4, lr=0.3, schedule="constant")
    assert lr_at(0.0, const) == lr_at(3.9, const) == 0.3


def test_lr_is_set_every_iteration_during_training():
    from paperlib.engine import classification_step
    seen = []
    model = mlp(dropout=0.0)
    cfg = TrainConfig(epochs=2, lr=0.4, warmup_epochs=1, warmup_start_factor=0.25, log_every=1)
    opt = build_optimizer(model, cfg)

    def rec_step(m, b, d):
        seen.append(opt.param_groups[0]["lr"])
        return classification_step(m, b, d)

    h = train(model, make_loader(NoisyDataset(), 16), cfg, optimizer=opt, step_fn=rec_step, progress=False)
    spe = 6
    exp = [lr_at(i / spe, cfg) for i in range(2 * spe)]
    assert seen == pytest.approx(exp, rel=1e-12)
    assert h["lr"] == pytest.approx([exp[spe - 1], exp[-1]])


# ----------------------------------------------------------------------------- losses, accumulation
class TwoLossModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(12, 6)
        self.dec = nn.Linear(6, 12)

    def forward(self, x):
        z = self.enc(x)
        return {"loss_rec": (self.dec(z) - x).pow(2).mean(), "loss_reg": 0.01 * z.pow(2).mean()}


def test_dict_of_losses_model():
    h = train(TwoLossModel(), make_loader(NoisyDataset(), 16, shuffle=True), TrainConfig(epochs=2, lr=0.05),
              progress=False)
    assert {"train_loss", "train_loss_rec", "train_loss_reg"} <= set(h)
    for e in range(2):
        assert h["train_loss"][e] == pytest.approx(h["train_loss_rec"][e] + h["train_loss_reg"][e], rel=1e-5)
    assert h["train_loss"][1] < h["train_loss"][0]
    assert "train_err" not in h


def test_step_fn_variants_and_custom_eval():
    def step(model, batch, device):
        x, y = batch
        out = model(x.to(device))
        loss = nn.functional.cross_entropy(out, y.to(device))
        return loss, {"correct": (out.argmax(1) == y).sum().item(), "n": len(y), "acc_proxy": 0.5}

    def ev(model, loader, device):
        return {"score": 1.25}

    ds = NoisyDataset()
    h = train(mlp(), make_loader(ds, 16), TrainConfig(epochs=2, eval_every_epochs=2), step_fn=step,
              eval_fn=ev, val_loader=make_loader(ds, 32), progress=False)
    assert h["val_score"] == [None, 1.25]
    assert h["train_acc_proxy"] == [0.5, 0.5]
    assert len(h["train_err"]) == 2 and all(0 <= e <= 1 for e in h["train_err"])


def test_grad_accumulation_equivalence():
    x = torch.randn(64, 12)
    y = torch.randint(0, 4, (64,))
    ds = TensorDataset(x, y)
    cfg = dict(epochs=2, lr=0.1, optimizer="sgd", weight_decay=1e-3)
    a, b = mlp(dropout=0.0)[0:1], mlp(dropout=0.0)[0:1]   # Linear only: batch-size independent
    a = nn.Sequential(a, nn.ReLU(), nn.Linear(16, 4))
    b = nn.Sequential(b, nn.ReLU(), nn.Linear(16, 4))
    b.load_state_dict(a.state_dict())
    train(a, make_loader(ds, 16), TrainConfig(**cfg), progress=False)
    train(b, make_loader(ds, 8), TrainConfig(grad_accum=2, **cfg), progress=False)
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(pa, pb, atol=1e-6), k


def test_clip_grad_and_cnn_channels_last():
    X, Y = torch.randn(48, 3, 8, 8), torch.randint(0, 6, (48,))
    h = train(small_cnn(), make_loader(TensorDataset(X, Y), 16),
              TrainConfig(epochs=1, lr=0.1, clip_grad=0.5, channels_last=True),
              val_loader=make_loader(TensorDataset(X, Y), 16), progress=False)
    assert set(h) >= {"val_err", "val_top5_err", "val_loss", "train_err"}
    assert 0 <= h["val_top5_err"][0] <= h["val_err"][0] <= 1


# ----------------------------------------------------------------------------- progress
def test_headless_log_lines(capsys, monkeypatch):
    monkeypatch.setenv("PAPERLIB_HEADLESS", "1")
    train(mlp(), make_loader(NoisyDataset(), 16), TrainConfig(epochs=2, log_every=3), desc="toy")
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "(global" in ln]
    assert len(lines) == 4, out      # 12 steps, a line every 3
    assert lines[0].startswith("[toy] epoch 1/2 step 3/6 (global 3) loss ")
    for key in (" lr ", " img/s ", " eta "):
        assert key in lines[0]
    assert "epoch 2/2 done" in out

    train(mlp(), make_loader(NoisyDataset(), 16), TrainConfig(epochs=1, log_every=1), progress=False)
    assert capsys.readouterr().out == ""


def test_make_loader_seeded():
    ds = TensorDataset(torch.arange(40))
    order = lambda s: torch.cat([b[0] for b in make_loader(ds, 8, shuffle=True, seed=s)]).tolist()
    assert order(1) == order(1) and order(1) != order(2)
    seed_everything(4)
    a = torch.rand(3)
    seed_everything(4)
    assert torch.equal(a, torch.rand(3))


# ----------------------------------------------------------------------------- DDP
DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from torch import nn
    from torch.utils.data import TensorDataset
    torch.set_num_threads(1)
    from paperlib.engine import TrainConfig, train, make_loader, shutdown_distributed
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(64, 12, generator=g), torch.randint(0, 4, (64,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    ds = TensorDataset(X, Y)
    h = train(model, make_loader(ds, 8, shuffle=False), TrainConfig(epochs=2, lr=0.1, log_every=1),
              val_loader=make_loader(ds, 16), progress=False, ckpt_path=sys.argv[1] + "/ck.pt")
    # a BatchNorm model, shuffled: ranks must still end identical (buffers included)
    torch.manual_seed(1)
    bn = nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    hb = train(bn, make_loader(ds, 8, shuffle=True, seed=2), TrainConfig(epochs=1, lr=0.1, ema_decay=0.5),
               progress=False)
    import torch.distributed as dist
    # an odd validation set (63 items over 2 ranks): the default evaluation counts each item once
    from torch.utils.data import DataLoader
    from paperlib.engine import evaluate_classification
    odd = TensorDataset(X[:63], Y[:63])
    full = evaluate_classification(model, DataLoader(odd, batch_size=16), "cpu")   # every rank, all items
    frozen = train(model, make_loader(ds, 8), TrainConfig(epochs=1, lr=0.0, weight_decay=0.0, momentum=0.0),
                   val_loader=make_loader(odd, 16), progress=False)
    torch.save({"state": model.state_dict(), "hist": dict(h), "world": dist.get_world_size(),
                "type": type(model).__name__, "bn": bn.state_dict(), "ema": hb.ema.state_dict(),
                "ema_type": type(hb.ema).__name__,
                "odd": (full["err"], full["loss"], frozen["val_err"][-1], frozen["val_loss"][-1])},
               sys.argv[1] + f"/rank{dist.get_rank()}.pt")
    shutdown_distributed()
    assert not dist.is_initialized()
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_gloo(tmp_path):
    script = tmp_path / "ddp_job.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        f"--master_port={_free_port()}", "--master_addr=127.0.0.1", str(script), str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{i}.pt", weights_only=False) for i in (0, 1))
    assert r0["world"] == 2 and r0["type"] == "Sequential"   # unwrapped from DDP
    err, loss, val_err, val_loss = r0["odd"]
    assert val_err == pytest.approx(err, abs=1e-12) and val_loss == pytest.approx(loss, rel=1e-6)
    assert r0["ema_type"] == "Sequential"                    # EMA of the unwrapped model
    for key in ("state", "bn", "ema"):
        for k in r0[key]:
            assert torch.equal(r0[key][k], r1[key][k]), (key, k)
    assert r0["hist"]["train_loss"] == r1["hist"]["train_loss"]
    assert r0["hist"]["val_err"] == r1["hist"]["val_err"]
    assert (tmp_path / "ck.pt").exists()

    # equal (up to float summation order) to one process with the global batch of 16
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(64, 12, generator=g), torch.randint(0, 4, (64,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    h = train(model, make_loader(TensorDataset(X, Y), 16, distributed=False),
              TrainConfig(epochs=2, lr=0.1), val_loader=make_loader(TensorDataset(X, Y), 16), progress=False)
    for k, v in model.state_dict().items():
        assert torch.allclose(v, r0["state"][k], atol=1e-5), k
    assert h["train_loss"] == pytest.approx(r0["hist"]["train_loss"], rel=1e-5)
    assert h["val_err"] == pytest.approx(r0["hist"]["val_err"])


# ----------------------------------------------------------------------------- evaluation shards
def test_shard_sampler_sees_every_item_once(monkeypatch):
    from torch.utils.data import DistributedSampler

    from paperlib.engine import ShardSampler
    from paperlib.engine.loop import _sharded_eval_loader

    ds = TensorDataset(torch.arange(7))
    shards = [list(ShardSampler(ds, num_replicas=3, rank=r)) for r in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]] and [len(ShardSampler(ds, 3, r)) for r in range(3)] == [3, 2, 2]
    # the padded DistributedSampler repeats items (what the default evaluation must not sum)
    padded = [list(DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert sum(map(len, padded)) == 9

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    ev = make_loader(ds, 2, evaluation=True)
    assert isinstance(ev.sampler, ShardSampler) and [int(b[0][0]) for b in ev] == [1]
    assert torch.cat([b[0] for b in ev]).tolist() == [1, 4]
    with pytest.raises(ValueError, match="shuffle=False"):
        make_loader(ds, 2, shuffle=True, evaluation=True)
    # the engine swaps a padded (or sequential) validation loader for the sharded one ...
    for loader in (make_loader(ds, 2), torch.utils.data.DataLoader(ds, batch_size=2)):
        got = _sharded_eval_loader(loader, 3)
        assert isinstance(got.sampler, ShardSampler) and list(got.sampler) == [1, 4]
    # ... and leaves alone what it must not touch: one process, shuffled or drop_last loaders
    one = make_loader(ds, 2, distributed=False)
    assert _sharded_eval_loader(one, 1) is one
    shuffled = make_loader(ds, 2, shuffle=True)
    assert _sharded_eval_loader(shuffled, 3) is shuffled
