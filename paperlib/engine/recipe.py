"""The classification training recipe of the DeiT / MAE / ViT family, through timm, for every paper:

    from paperlib.engine import recipe as R
    lr = R.scaled_lr(1e-3, batch_size=32, grad_accum=4)            # x world size / 256 (linear scaling rule)
    step = R.finetune_step(num_classes, smoothing=0.1, mixup=0.8, cutmix=1.0)   # engine step_fn
    train_tf, eval_tf = R.classification_transforms(224, auto_augment="rand-m9-mstd0.5-inc1", reprob=0.25)
    ds = R.with_transform(dataset, train_tf)                       # same images, another transform
    correct = R.per_item_correct(model, eval_loader)               # 0/1 per item, dataset order, all ranks

Label smoothing, mixup / CutMix (timm ``Mixup`` + ``SoftTargetCrossEntropy``), RandAugment / AutoAugment
and random erasing (timm ``create_transform``), the official eval transform (resize size / 0.875, centre
crop), and a guard for Pillow >= 13's posterize at 0 bits. Nothing here is written by hand that timm or
torchvision provides; what is hand-written is glue (steps, dataset views, the posterize guard).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed as D

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# world size and the linear lr scaling rule
# --------------------------------------------------------------------------------------------
def n_processes(ws: Optional[int] = None) -> int:
    """``ws``, or the number of processes torchrun launched (1 outside torchrun)."""
    return D.env_world()[1] if ws is None else int(ws)


def scaled_lr(base_lr: float, batch_size: int, grad_accum: int = 1, ws: Optional[int] = None) -> float:
    """Linear scaling rule (Goyal et al.; the MAE / DeiT scripts): lr = base_lr * effective batch / 256,
    effective batch = batch per process x gradient-accumulation steps x processes (``ws``; None: torchrun's)."""
    return base_lr * batch_size * grad_accum * n_processes(ws) / 256


# --------------------------------------------------------------------------------------------
# losses as engine step functions: label smoothing, mixup / CutMix
# --------------------------------------------------------------------------------------------
def label_smoothing_step(smoothing: float = 0.1) -> Callable:
    """engine step_fn: cross-entropy with label smoothing; counts top-1 correct for the train error."""
    def step(model, batch, device):
        x, y = batch[0].to(device), batch[1].to(device)
        out = model(x)
        loss = F.cross_entropy(out, y, label_smoothing=smoothing)
        return loss, {"correct": (out.argmax(1) == y).sum(), "n": int(y.shape[0])}
    return step


def make_mixup(num_classes: int, *, mixup: float = 0.8, cutmix: float = 1.0, prob: float = 1.0,
               switch_prob: float = 0.5, mode: str = "batch", smoothing: float = 0.1):
    """timm's Mixup/CutMix as the DeiT / MAE fine-tuning scripts build it (cutmix_minmax None, label smoothing
    folded into the soft targets); None when both alphas are 0."""
    if mixup <= 0 and cutmix <= 0:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, cutmix_minmax=None, prob=prob, switch_prob=switch_prob,
                 mode=mode, label_smoothing=smoothing, num_classes=num_classes)


def mixup_step(mixup_fn) -> Callable:
    """engine step_fn: mix the batch with ``mixup_fn`` (timm Mixup) and take SoftTargetCrossEntropy on the
    soft targets. timm mixes a batch with its reverse and needs an even batch: an odd batch (a loader without
    drop_last) loses its last sample. Train error counts a prediction correct when it is the soft target's
    largest class (the dominant label of the mix), as paperlib.engine's default step does."""
    from timm.loss import SoftTargetCrossEntropy

    crit = SoftTargetCrossEntropy()

    def step(model, batch, device):
        x, y = batch[0].to(device), batch[1].to(device)
        if x.shape[0] % 2:
            if x.shape[0] < 2:
                raise ValueError("mixup/CutMix needs at least 2 images per batch (got 1)")
            x, y = x[:-1], y[:-1]
        x, target = mixup_fn(x, y)
        out = model(x)
        loss = crit(out, target)
        with torch.no_grad():
            correct = (out.argmax(1) == target.argmax(1)).sum()
        return loss, {"correct": correct, "n": int(target.shape[0])}

    step.mixup_fn, step.criterion = mixup_fn, crit
    return step


def finetune_step(num_classes: int, *, smoothing: float = 0.1, mixup: float = 0.0, cutmix: float = 0.0,
                  mixup_prob: float = 1.0, mixup_switch_prob: float = 0.5, mixup_mode: str = "batch") -> Callable:
    """The recipe's loss: mixup/CutMix + SoftTargetCrossEntropy when either alpha is > 0, else label-smoothing
    CE (:func:`label_smoothing_step`)."""
    fn = make_mixup(num_classes, mixup=mixup, cutmix=cutmix, prob=mixup_prob, switch_prob=mixup_switch_prob,
                    mode=mixup_mode, smoothing=smoothing)
    return label_smoothing_step(smoothing) if fn is None else mixup_step(fn)


# --------------------------------------------------------------------------------------------
# transforms: timm's create_transform (RandAugment / AutoAugment, random erasing) + the official eval
# --------------------------------------------------------------------------------------------
class ToPIL:
    """PIL passthrough; uint8 / float-in-[0, 1] CHW tensors (the in-memory synthetic set) and HWC uint8 arrays
    become PIL images, which timm's RandAugment and the official PIL-bicubic transforms need."""

    def __call__(self, x):
        from PIL import Image

        if torch.is_tensor(x):
            from torchvision.transforms.functional import to_pil_image

            return to_pil_image(x)
        if isinstance(x, np.ndarray):
            return Image.fromarray(x)
        return x

    def __repr__(self):
        return "ToPIL()"


def posterize_compat(img, bits_to_keep, **kw):
    """timm's posterize, also at 0 bits kept. timm's PosterizeIncreasing keeps 4 - int(4 m / 10) bits, i.e. 0 at
    magnitude 10 (reached by m9 + mstd 0.5 about 2 % of the times the op is drawn); older Pillow turned that
    into an all-black image, newer Pillow (13 here) raises ValueError. Keep the old result (the recipe the papers
    ran); every other case is timm's own function."""
    from timm.data import auto_augment

    if bits_to_keep <= 0:
        from PIL import Image

        return Image.new(img.mode, img.size)
    return auto_augment.posterize(img, bits_to_keep, **kw)


def _augment_ops(t):
    """The timm AugmentOps of a RandAugment (``ops``) or an AutoAugment (``policy``: lists of ops)."""
    from timm.data import auto_augment

    if isinstance(t, auto_augment.RandAugment):
        return list(t.ops)
    if isinstance(t, auto_augment.AutoAugment):
        return [op for sub in t.policy for op in sub]
    return []


def patch_posterize(transform):
    """Route every posterize op of the RandAugment / AutoAugment inside ``transform`` (a Compose, or the op
    itself) through :func:`posterize_compat`. Returns ``transform``."""
    from timm.data import auto_augment

    for t in list(getattr(transform, "transforms", [])) + [transform]:
        for op in _augment_ops(t):
            if op.aug_fn is auto_augment.posterize:
                op.aug_fn = posterize_compat
    return transform


def augment_transform(policy: str, image_size: int = 224, mean=IMAGENET_MEAN, interpolation: str = "bicubic"):
    """The PIL-level augmentation of a timm policy string, posterize-guarded: "rand-..." -> timm's
    ``rand_augment_transform`` (RandAugment), "original" / "v0" / ... -> ``auto_augment_transform``
    (AutoAugment). Image-size-dependent translations and the fill colour follow timm's create_transform."""
    from timm.data import auto_augment_transform, rand_augment_transform
    from timm.data.transforms import str_to_pil_interp

    hp = dict(translate_const=int(image_size * 0.45), img_mean=tuple(min(255, round(255 * x)) for x in mean),
              interpolation=str_to_pil_interp(interpolation))
    fn = rand_augment_transform if policy.startswith("rand") else auto_augment_transform
    return patch_posterize(fn(policy, hp))


def classification_transforms(image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, auto_augment: str = "",
                              reprob: float = 0.0, interpolation: str = "bicubic", color_jitter=None):
    """(train, eval) transforms of the DeiT / MAE fine-tuning scripts (MAE's main_finetune.build_transform).

    train: timm ``create_transform(is_training=True, color_jitter=None, auto_augment=auto_augment,
    interpolation='bicubic', re_prob=reprob, re_mode='pixel', re_count=1)`` = RandomResizedCrop (bicubic) +
    flip + RandAugment / AutoAugment ("" = none) + ToTensor + Normalize + RandomErasing; posterize guarded
    (:func:`posterize_compat`). eval: resize to int(size / crop_pct) (crop_pct 224/256 for size <= 224, else 1)
    with bicubic, centre crop, ToTensor, Normalize. Both accept tensors and arrays too (:class:`ToPIL`)."""
    from timm.data import create_transform
    from torchvision import transforms as T

    train = create_transform(image_size, is_training=True, color_jitter=color_jitter,
                             auto_augment=auto_augment or None, interpolation=interpolation, re_prob=reprob,
                             re_mode="pixel", re_count=1, mean=tuple(mean), std=tuple(std))
    patch_posterize(train)
    crop_pct = 224 / 256 if image_size <= 224 else 1.0
    evt = T.Compose([T.Resize(int(image_size / crop_pct), interpolation=T.InterpolationMode.BICUBIC),
                     T.CenterCrop(image_size), T.ToTensor(), T.Normalize(mean, std)])
    return T.Compose([ToPIL(), *train.transforms]), T.Compose([ToPIL(), *evt.transforms])


# --------------------------------------------------------------------------------------------
# dataset views
# --------------------------------------------------------------------------------------------
class TransformedDataset(torch.utils.data.Dataset):
    """(transform(x), y) over a dataset without a ``transform`` attribute (e.g. a TensorDataset of images)."""

    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i][:2]
        return self.transform(x), y


def with_transform(dataset, transform):
    """The same images with ``transform``: a shallow copy with the transform replaced (ImageFolder, CIFAR,
    the in-memory synthetic set; storage shared), Subsets keep their indices, anything else is wrapped."""
    import copy

    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        return Subset(with_transform(dataset.dataset, transform), dataset.indices)
    if hasattr(dataset, "transform"):
        ds = copy.copy(dataset)
        ds.transform = transform
        if hasattr(ds, "transforms") and hasattr(ds, "target_transform"):   # torchvision VisionDataset
            from torchvision.datasets.vision import StandardTransform

            ds.transforms = StandardTransform(transform, ds.target_transform)
        return ds
    return TransformedDataset(dataset, transform)


# --------------------------------------------------------------------------------------------
# evaluation per item (paired bootstraps), every rank's shard gathered
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def per_item_correct(model: nn.Module, loader, device="cpu") -> np.ndarray:
    """0/1 top-1 correctness of every item of the loader's data set, in dataset order. Under torchrun each rank
    scores its shard (an ``evaluation=True`` loader) and the shards are gathered and merged
    (:func:`paperlib.engine.distributed.merge_rank_items`), so every item counts once."""
    was = model.training
    model.eval()
    idx = D.loader_indices(loader)
    out = []
    for x, y in loader:
        out.append((model(x.to(device)).argmax(1).cpu() == torch.as_tensor(y)).numpy())
    model.train(was)
    local = np.concatenate(out).astype(float) if out else np.zeros(0)
    return np.asarray(D.merge_rank_items(D.all_gather_object((idx, local.tolist())), len(loader.dataset)),
                      dtype=float)
