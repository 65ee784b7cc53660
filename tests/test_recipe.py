"""paperlib.engine.recipe: the classification training recipe shared by the ViT-family papers."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from paperlib.engine import recipe as R

pytestmark = pytest.mark.usefixtures("one_thread")


def test_scaled_lr_and_world_size(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert R.n_processes() == 1 and R.n_processes(8) == 8
    assert math.isclose(R.scaled_lr(1e-3, 32, grad_accum=4, ws=8), 1e-3 * 1024 / 256)
    assert math.isclose(R.scaled_lr(1.5e-4, 256), 1.5e-4)            # one process, batch 256: the base lr
    monkeypatch.setenv("WORLD_SIZE", "4")                            # torchrun's environment
    monkeypatch.setenv("RANK", "1")
    assert R.n_processes() == 4
    assert math.isclose(R.scaled_lr(1e-3, 64), 1e-3 * 64 * 4 / 256)
    assert R.n_processes(1) == 1                                     # an explicit world size wins


def test_label_smoothing_step_and_finetune_step_switch():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    loss, info = R.label_smoothing_step(0.2)(model, (x, y), "cpu")
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(loss, F.cross_entropy(out, y, label_smoothing=0.2))
    assert info["n"] == 6 and int(info["correct"]) == int((out.argmax(1) == y).sum())
    assert R.make_mixup(3, mixup=0.0, cutmix=0.0) is None
    assert not hasattr(R.finetune_step(3), "mixup_fn")                 # both alphas 0: plain LS-CE
    step = R.finetune_step(3, mixup=0.0, cutmix=1.0, smoothing=0.1)  # CutMix alone switches mixing on
    assert step.mixup_fn.cutmix_alpha == 1.0 and step.mixup_fn.mixup_alpha == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        step(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3)),
             (torch.randn(1, 3, 8, 8), torch.tensor([0])), "cpu")


def test_mixup_targets_are_a_convex_mix_of_smoothed_labels():
    import random
    K, s = 4, 0.1
    step = R.finetune_step(K, smoothing=s, mixup=0.8, cutmix=0.0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, K))
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    random.seed(0)
    np.random.seed(0)
    _, t = step.mixup_fn(x.clone(), y.clone())
    smooth = lambda lab: torch.full((4, K), s / K).scatter_(1, lab[:, None], 1 - s + s / K)
    lam = float((t[0, 0] - s / K) / (1 - s))
    assert 0.0 < lam < 1.0
    torch.testing.assert_close(t, lam * smooth(y) + (1 - lam) * smooth(y.flip(0)))


@pytest.mark.parametrize("policy,kind", [("rand-m9-mstd0.5-inc1", "RandAugment"), ("original", "AutoAugment"),
                                         ("v0", "AutoAugment")])
def test_augment_policies_through_timm_and_posterize_guard(policy, kind):
    from PIL import Image
    from timm.data import auto_augment as aa

    t = R.augment_transform(policy, 32)
    assert type(t).__name__ == kind
    ops = R._augment_ops(t)
    post = [op for op in ops if "Posterize" in op.name]
    assert post and all(op.aug_fn is R.posterize_compat for op in post)
    assert not any(op.aug_fn is aa.posterize for op in ops)
    img = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    black = R.posterize_compat(img, 0)                                # 0 bits: black, not Pillow's ValueError
    assert black.size == img.size and black.getextrema() == ((0, 0), (0, 0), (0, 0))
    two = R.posterize_compat(img, 2)                                  # otherwise timm's own posterize
    assert set(two.tobytes()) <= {0, 64, 128, 192}
    train, _ = R.classification_transforms(32, auto_augment=policy)
    assert kind in [type(x).__name__ for x in train.transforms]


def test_classification_transforms_train_and_eval():
    from timm.data.random_erasing import RandomErasing
    train, ev = R.classification_transforms(32, reprob=0.25)
    names = [type(x).__name__ for x in train.transforms]
    assert names[0] == "ToPIL" and "RandAugment" not in names and "AutoAugment" not in names
    er = next(x for x in train.transforms if isinstance(x, RandomErasing))
    assert er.probability == 0.25 and er.mode == "pixel"
    resize = next(x for x in ev.transforms if type(x).__name__ == "Resize")
    assert resize.size == 36                                          # int(32 / 0.875)
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    assert train(img).shape == ev(img).shape == (3, 32, 32)
    arr = np.zeros((32, 32, 3), dtype=np.uint8)
    assert ev(arr).shape == (3, 32, 32)                               # HWC arrays through ToPIL too


def test_with_transform_shares_images_keeps_indices_and_wraps():
    from torch.utils.data import Subset, TensorDataset
    from torchvision.datasets import FakeData

    fake = FakeData(size=5, image_size=(3, 8, 8), num_classes=2, transform=None)
    flip = lambda im: im.transpose(0)                                 # PIL FLIP_LEFT_RIGHT
    v = R.with_transform(fake, flip)
    assert v is not fake and v.transform is flip and fake.transform is None
    assert v.transforms.transform is flip                             # torchvision's StandardTransform updated
    sub = R.with_transform(Subset(fake, [4, 1]), flip)
    assert isinstance(sub, Subset) and sub.indices == [4, 1] and sub.dataset.transform is flip
    td = TensorDataset(torch.arange(6.0).view(3, 2), torch.tensor([0, 1, 0]))
    w = R.with_transform(td, lambda t: t * 10)
    assert isinstance(w, R.TransformedDataset) and len(w) == 3
    x, y = w[1]
    assert torch.equal(x, torch.tensor([20.0, 30.0])) and int(y) == 1


def test_per_item_correct_dataset_order_and_mode_restored():
    from torch.utils.data import DataLoader, TensorDataset
    x = torch.eye(4).repeat(3, 1)                                     # 12 one-hot rows
    y = torch.tensor([0, 1, 2, 3, 0, 0, 2, 3, 1, 1, 1, 3])
    model = torch.nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(4))                              # predicts the hot index
    model.train()
    c = R.per_item_correct(model, DataLoader(TensorDataset(x, y), batch_size=5))
    assert c.dtype == float and c.tolist() == [float(v) for v in (torch.arange(12) % 4 == y)]
    assert model.training                                             # mode restored
    assert R.per_item_correct(model, DataLoader(TensorDataset(x[:0], y[:0]), batch_size=5)).shape == (0,)
