"""engine.runtime (thread setup) and engine.schedule.step_decay (iteration schedules): golden arithmetic."""
import math

import pytest
import torch

from paperlib.engine import TrainConfig, lr_at
from paperlib.engine.runtime import setup_threads
from paperlib.engine.schedule import IterScheduler, step_decay


# ----------------------------------------------------------------------------- threads
def test_setup_threads_sets_cpu_threads_and_leaves_them_otherwise():
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert setup_threads(1, "cpu") == 1 == torch.get_num_threads()
        assert setup_threads(0, "cpu") == 1          # 0: leave as is
        assert setup_threads(None, torch.device("cpu")) == 1
        assert setup_threads(2, "cuda") == 1         # accelerator: the CPU count is left alone
        assert setup_threads(2, "cpu") == 2
        with pytest.raises(ValueError, match="threads = -1"):
            setup_threads(-1, "cpu")
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------- step decay
def test_step_decay_epoch_form_golden():
    s = step_decay(epochs=4, warmup_epochs=0.1, max_steps=3)
    assert s == {"epochs": 4, "max_steps": 3, "schedule": "step", "milestones": [3.0], "warmup_epochs": 0.1,
                 "warmup_start_factor": 0.001}
    assert step_decay(epochs=2, warmup_epochs=5)["warmup_epochs"] == 2      # warm-up capped by the schedule


def test_step_decay_iteration_form_golden():
    # the FPN paper's RPN recipe, 40k iterations with the drop at 30k, on a loader of 7 batches per epoch
    s = step_decay(epochs=99, iters=40000, step_iters=30000, steps_per_epoch=7, warmup_epochs=0.01)
    assert s["epochs"] == 5715 == math.ceil(40000 / 7)
    assert s["milestones"] == [30000 / 7] and s["max_steps"] == 40000 and s["warmup_epochs"] == 0.01
    assert step_decay(epochs=1, iters=10, step_iters=None, steps_per_epoch=4)["milestones"] == []
    assert step_decay(epochs=1, iters=10, steps_per_epoch=4, max_steps=3)["max_steps"] == 3
    assert step_decay(epochs=1, iters=10, steps_per_epoch=4, max_steps=30)["max_steps"] == 10
    assert step_decay(epochs=1, iters=8, steps_per_epoch=4, warmup_epochs=5)["warmup_epochs"] == 2
    with pytest.raises(ValueError, match="steps_per_epoch"):
        step_decay(epochs=1, iters=10)


@pytest.mark.parametrize("spe", [1, 3, 7, 250])
def test_step_decay_lr_switches_exactly_at_step_iters(spe):
    total, step, base = 40, 30, 0.02
    tc = TrainConfig(lr=base, gamma=0.1, **step_decay(epochs=1, iters=total, step_iters=step, steps_per_epoch=spe,
                                                      warmup_epochs=0.0))
    lrs = [lr_at(i / spe, tc) for i in range(total)]
    assert all(v == base for v in lrs[:step])
    assert all(v == pytest.approx(base * 0.1, rel=1e-12) for v in lrs[step:])


def test_warmup_then_step_per_iteration_golden():
    # warm-up of 2 steps from 0.001 x base (linear in the fractional epoch), then base, then x0.1 at step 6
    tc = TrainConfig(lr=1.0, gamma=0.1, **step_decay(epochs=1, iters=8, step_iters=6, steps_per_epoch=4,
                                                     warmup_epochs=0.5))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sch = IterScheduler(opt, tc, steps_per_epoch=4)
    got = []
    for i in range(8):
        sch.step(i)
        got.append(opt.param_groups[0]["lr"])
    assert got == pytest.approx([0.001, 0.5005, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1], rel=1e-12)
