"""Image classification data: the embedded procedural generator and loaders for real datasets.

The generator writes a real ImageFolder (``train/<class>/*.png``, ``val/<class>/*.png``) once, so the
same loader reads synthetic and real data. Each class is a (shape, texture) pair; colours, scale,
rotation, position, background, distractor shapes and pixel noise are random nuisances, so a small
CNN does not reach 100 % and architectures can differ.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .common import generated_dataset, record_use, require_layout

SHAPES = ("disk", "square", "triangle", "ring", "cross", "diamond")
TEXTURES = ("solid", "stripes", "checker")
MAX_CLASSES = len(SHAPES) * len(TEXTURES) * 2  # x2: stripe orientation family (near-horizontal / near-vertical)

# normalisation constants per dataset (0-1 scale)
STATS = {
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "cifar10": ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    "cifar100": ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
STATS["imagefolder"] = STATS["imagenet"]
STATS["tiny-imagenet"] = STATS["imagenet"]

LAYOUTS = {
    "cifar10": "data_root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} "
               "(the python version from https://www.cs.toronto.edu/~kriz/cifar.html)",
    "cifar100": "data_root/cifar-100-python/{train,test,meta}",
    "imagefolder": "data_root/train/<class>/<image> and data_root/val/<class>/<image> "
                   "(ImageNet: the usual ILSVRC2012 train/ and val/ folders with one sub-folder per synset)",
    "tiny-imagenet": "data_root/train/<wnid>/images/*.JPEG, data_root/val/images/*.JPEG + "
                     "data_root/val/val_annotations.txt (tiny-imagenet-200 as distributed)",
}
LAYOUTS["imagenet"] = LAYOUTS["imagefolder"]

# PCA of ImageNet training pixels (RGB, 0-1 scale) for AlexNet-style "lighting" noise, as used by the
# ResNeXt recipe (docs/papers/01_resnext.md, ImageNet recipe); the values are fb.resnet.torch's
# (facebookarchive/fb.resnet.torch, datasets/imagenet.lua `pca`), which the ResNeXt code reuses.
IMAGENET_PCA = {
    "eigval": (0.2175, 0.0188, 0.0045),
    "eigvec": ((-0.5675, 0.7192, 0.4009),
               (-0.5808, -0.0045, -0.8140),
               (-0.5836, -0.6948, 0.4203)),
}


class Lighting:
    """AlexNet-style PCA lighting noise (fb.resnet.torch ``transforms.Lighting``): draws
    alpha ~ N(0, alphastd^2) per channel-component and adds the per-channel offset
    ``eigvec @ (alpha * eigval)`` to every pixel of a float CHW image (0-1 scale, before Normalize).

    Written by hand: neither torchvision nor timm ships a maintained PCA-lighting transform.
    alphastd == 0 returns the input unchanged (and draws nothing). `generator` (optional) makes the
    draws reproducible on their own; by default torch's global RNG (seeded per loader worker)."""

    def __init__(self, alphastd: float = 0.1, eigval=IMAGENET_PCA["eigval"], eigvec=IMAGENET_PCA["eigvec"],
                 generator=None):
        import torch

        self.alphastd = float(alphastd)
        self.eigval = torch.as_tensor(eigval, dtype=torch.float32)
        self.eigvec = torch.as_tensor(eigvec, dtype=torch.float32)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError("Lighting needs 3 eigenvalues and a 3x3 eigenvector matrix (columns = components)")
        self.generator = generator

    def offset(self, alpha):
        """Per-channel offset for the component weights `alpha` (3,): eigvec @ (alpha * eigval)."""
        import torch

        return self.eigvec @ (torch.as_tensor(alpha, dtype=torch.float32) * self.eigval)

    def __call__(self, img):
        import torch

        if self.alphastd == 0:
            return img
        if not torch.is_tensor(img) or not img.is_floating_point() or img.shape[-3] != 3:
            raise TypeError("Lighting expects a float tensor image (..., 3, H, W); put it after ToDtype(float32)")
        alpha = torch.randn(3, generator=self.generator) * self.alphastd
        out = img + self.offset(alpha).to(img.device, img.dtype)[:, None, None]
        try:  # keep the tv_tensors.Image type so later v2 transforms dispatch as on an image
            from torchvision import tv_tensors

            if isinstance(img, tv_tensors.Image):
                out = tv_tensors.wrap(out, like=img)
        except ImportError:  # pragma: no cover
            pass
        return out

    def __repr__(self):
        return f"{type(self).__name__}(alphastd={self.alphastd})"


def class_attributes(c: int) -> tuple[str, str, int]:
    """(shape, texture, orientation family) of class c."""
    if not 0 <= c < MAX_CLASSES:
        raise ValueError(f"synthetic classification supports at most {MAX_CLASSES} classes")
    return SHAPES[c % len(SHAPES)], TEXTURES[(c // len(SHAPES)) % len(TEXTURES)], c // (len(SHAPES) * len(TEXTURES))


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = np.sqrt(x * x + y * y)
    if shape == "disk":
        return r < 1.0
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) < 0.78
    if shape == "triangle":
        return (y < 0.65) & (y > 1.9 * np.abs(x) - 0.95)
    if shape == "ring":
        return (r < 1.0) & (r > 0.55)
    if shape == "cross":
        return ((np.abs(x) < 0.3) & (np.abs(y) < 0.95)) | ((np.abs(y) < 0.3) & (np.abs(x) < 0.95))
    if shape == "diamond":
        return np.abs(x) + np.abs(y) < 1.0
    raise ValueError(shape)


def _random_color(rng) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3)


def render_image(c: int, size: int, rng: np.random.Generator, ss: int = 2) -> np.ndarray:
    """One HxWx3 uint8 image of class c (rendered at ss x resolution, then box-downsampled)."""
    shape, texture, orient = class_attributes(c)
    S = size * ss
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) + 0.5
    # background: smooth low-frequency colour field
    g = rng.uniform(0, 1, size=(3, 3, 3))
    from numpy import kron

    coarse = np.clip(g, 0, 1)
    up = kron(coarse, np.ones((S // 3 + 1, S // 3 + 1, 1)))[:S, :S]
    img = 0.6 * up + 0.4 * _random_color(rng)
    # background clutter: a faint random stripe pattern on half of the images
    if rng.random() < 0.5:
        phi = rng.uniform(0, np.pi)
        k = 2 * np.pi / (rng.uniform(3, 7) * S / 32)
        wave = (np.sin(k * (xx * np.cos(phi) + yy * np.sin(phi))) > 0)[..., None]
        img = img * (1 - 0.15 * wave)
    # distractors: smaller solid shapes of random kinds
    for _ in range(rng.integers(1, 4)):
        rad = rng.uniform(0.12, 0.25) * S
        cx, cy = rng.uniform(0, S, size=2)
        th = rng.uniform(0, 2 * np.pi)
        x = ((xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)) / rad
        y = (-(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)) / rad
        m = _shape_mask(SHAPES[rng.integers(len(SHAPES))], x, y)
        img[m] = _random_color(rng)
    # the object
    rad = rng.uniform(0.28, 0.45) * S
    cx, cy = rng.uniform(rad * 0.8, S - rad * 0.8, size=2)
    th = rng.uniform(0, 2 * np.pi)
    x = ((xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)) / rad
    y = (-(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)) / rad
    m = _shape_mask(shape, x, y)
    a = _random_color(rng)
    b = np.clip(a + rng.choice([-1, 1]) * rng.uniform(0.35, 0.6), 0, 1) if texture != "solid" else a
    period = rng.uniform(2.5, 4.5) * S / 32
    if texture == "stripes":
        phi = (0.0 if orient == 0 else np.pi / 2) + rng.uniform(-0.5, 0.5)
        pat = np.sin(2 * np.pi / period * (xx * np.cos(phi) + yy * np.sin(phi))) > 0
    elif texture == "checker":
        pat = (np.sin(2 * np.pi / period * xx) * np.sin(2 * np.pi / period * yy)) > 0
    else:
        pat = np.zeros_like(m)
    obj = np.where(pat[..., None], b, a)
    img[m] = obj[m]
    # occluder: sometimes a distractor falls on top of the object
    if rng.random() < 0.3:
        rad2 = rng.uniform(0.1, 0.2) * S
        ox, oy = cx + rng.uniform(-rad, rad), cy + rng.uniform(-rad, rad)
        m2 = (xx - ox) ** 2 + (yy - oy) ** 2 < rad2 ** 2
        img[m2] = _random_color(rng)
    img = img.reshape(size, ss, size, ss, 3).mean(axis=(1, 3))
    img = img + rng.normal(0, 0.06, size=img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _write_split(root: Path, split: str, n: int, num_classes: int, size: int, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    for c in range(num_classes):
        (root / split / f"class_{c:02d}").mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(labels):
        img = render_image(int(c), size, rng)
        Image.fromarray(img).save(root / split / f"class_{c:02d}" / f"{i:06d}.png", optimize=False)


def synthetic_classification(num_classes: int = 10, image_size: int = 32, n_train: int = 5000,
                             n_val: int = 1000, seed: int = 0, root: Path | None = None) -> Path:
    """Folder of the embedded synthetic ImageFolder (generated once; deterministic in the arguments)."""
    if num_classes > MAX_CLASSES or num_classes < 2:
        raise ValueError(f"num_classes must be in [2, {MAX_CLASSES}], got {num_classes}")
    params = dict(num_classes=num_classes, image_size=image_size, n_train=n_train, n_val=n_val, seed=seed)

    def gen(tmp: Path):
        _write_split(tmp, "train", n_train, num_classes, image_size, seed)
        _write_split(tmp, "val", n_val, num_classes, image_size, seed + 10_000)

    return generated_dataset("synthetic_classification", params, gen, version=1, root=root)


# ----------------------------------------------------------------------------- datasets
class InMemoryImageFolder:
    """An ImageFolder decoded once into a uint8 tensor (N, 3, H, W); transforms act on tensors.

    For the small embedded sets this removes PNG decoding from every epoch (CPU profiles)."""

    def __init__(self, folder, transform=None):
        import torch
        from PIL import Image
        from torchvision.datasets.folder import find_classes, make_dataset

        self.classes, self.class_to_idx = find_classes(str(folder))
        samples = make_dataset(str(folder), self.class_to_idx, extensions=(".png", ".jpg", ".jpeg", ".JPEG"))
        arrs = [np.asarray(Image.open(p).convert("RGB")) for p, _ in samples]
        self.data = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
        self.targets = [t for _, t in samples]
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        x = self.data[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.targets[i]


#: datasets whose images are stored at the training size (generated at image_size; CIFAR's 32 px)
NATIVE_SIZE = ("synthetic", "cifar10", "cifar100")


def default_crop(name: str) -> str:
    """The crop of :func:`default_transforms` for dataset ``name``: "padcrop" where the images are stored at
    the training size (:data:`NATIVE_SIZE`; evaluation then leaves them as they are), else "rrc" (evaluation
    resizes and centre-crops, whatever the image size on disk)."""
    return "padcrop" if name in NATIVE_SIZE else "rrc"


def default_transforms(image_size: int, mean, std, *, train: bool, crop: str = "padcrop",
                       color_jitter: float = 0.0, lighting: float = 0.0):
    """Tensor/PIL-agnostic torchvision v2 transforms: pad-crop + flip (small images) or
    random-resized-crop + flip (large images) for training; resize + centre-crop for eval.

    Training only, both off by default: `color_jitter` > 0 adds torchvision's ColorJitter with that
    brightness / contrast / saturation strength; `lighting` > 0 adds :class:`Lighting` (ImageNet PCA
    noise of that std). They act on the 0-1 float image before Normalize, in fb.resnet.torch's order
    (crop, jitter, lighting, normalise; the flip commutes with them) -- the ResNeXt ImageNet recipe
    is crop="rrc", color_jitter=0.4, lighting=0.1."""
    import torch
    from torchvision.transforms import v2

    to = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if train:
        if crop == "padcrop":
            aug = [v2.RandomCrop(image_size, padding=max(1, image_size // 8)), v2.RandomHorizontalFlip()]
        elif crop == "rrc":
            aug = [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()]
        else:
            aug = []
        color = []
        if color_jitter:
            color.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
        if lighting:
            color.append(Lighting(lighting))
        if color:
            return v2.Compose([v2.ToImage(), *aug, to[1], *color, to[2]])
        return v2.Compose([v2.ToImage(), *aug, *to[1:]])
    if crop == "rrc":  # ImageNet-style evaluation: resize 256/224 x size, centre crop
        return v2.Compose([v2.ToImage(), v2.Resize(int(round(image_size * 256 / 224)), antialias=True),
                           v2.CenterCrop(image_size), *to[1:]])
    return v2.Compose([v2.ToImage(), *to[1:]])


def classification_datasets(name: str = "synthetic", data_root=None, *, image_size: int = 32,
                            num_classes: int = 10, n_train: int = 5000, n_val: int = 1000, seed: int = 0,
                            train_transform=None, val_transform=None, crop: str | None = None,
                            in_memory: bool | None = None, color_jitter: float = 0.0, lighting: float = 0.0):
    """(train_ds, val_ds, meta) for `name` in synthetic | cifar10 | cifar100 | imagefolder | imagenet |
    tiny-imagenet. meta = {num_classes, mean, std, classes, root}. Real data comes from `data_root`
    in its standard layout (nothing is downloaded); a wrong layout raises naming the expected one.
    color_jitter / lighting: passed to :func:`default_transforms` for the training transform (0 = off)."""
    name = name.lower()
    if name not in STATS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(sorted(STATS))}")
    if name != "synthetic":      # the layout first: a wrong data_root is refused before torch is even imported
        root = require_layout(data_root, REQUIRED[name], name, LAYOUTS[name])
    import torchvision

    mean, std = STATS[name]
    if crop is None:
        crop = default_crop(name)
    ttf = train_transform or default_transforms(image_size, mean, std, train=True, crop=crop,
                                                color_jitter=color_jitter, lighting=lighting)
    vtf = val_transform or default_transforms(image_size, mean, std, train=False, crop=crop)
    if name == "synthetic":
        root = synthetic_classification(num_classes, image_size, n_train, n_val, seed)
        mem = True if in_memory is None else in_memory
        cls = InMemoryImageFolder if mem else torchvision.datasets.ImageFolder
        tr, va = cls(root / "train", transform=ttf), cls(root / "val", transform=vtf)
    elif name in ("cifar10", "cifar100"):
        C = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        tr, va = (_open_cifar(C, root, name, train, tf) for train, tf in ((True, ttf), (False, vtf)))
    elif name == "tiny-imagenet":
        tr = _image_folder(root / "train", ttf, name)
        va = _TinyImageNetVal(root / "val", tr.class_to_idx, vtf)
    else:
        tr = _image_folder(root / "train", ttf, name)
        va = _image_folder(root / "val", vtf, name)
        check_same_classes(tr.classes, va.classes, root / "train", root / "val")
    if name != "synthetic":
        record_use(name, root)
    classes = list(getattr(tr, "classes", []))
    meta = {"num_classes": len(classes) or num_classes, "mean": mean, "std": std, "classes": classes,
            "root": str(root), "name": name}
    return tr, va, meta


CIFAR_FILES = {
    "cifar10": [f"cifar-10-batches-py/{f}" for f in
                ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")],
    "cifar100": [f"cifar-100-python/{f}" for f in ("train", "test", "meta")],
}
# what must exist under data_root before anything is read
REQUIRED = {**CIFAR_FILES, "tiny-imagenet": ["train", "val/images", "val/val_annotations.txt"],
            "imagefolder": ["train", "val"], "imagenet": ["train", "val"]}


def _open_cifar(C, root: Path, name: str, train: bool, transform):
    """torchvision's CIFAR reader (download=False) with this project's message on a corrupt folder:
    torchvision would suggest download=True, an option paperlib does not offer."""
    try:
        return C(str(root), train=train, transform=transform, download=False)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError) as e:
        files = ", ".join(str(root / f) for f in CIFAR_FILES[name])
        why = ("they fail torchvision's md5 checksums" if isinstance(e, RuntimeError)   # its text offers download=True
               else f"unpickling failed: {type(e).__name__}: {e}")
        raise ValueError(f"{name}: the files under {root} are corrupt, truncated or not the CIFAR python "
                         f"version ({why}); checked: {files}. "
                         f"Expected layout: {LAYOUTS[name]}. Re-extract the original archive there.") from None


def _image_folder(folder: Path, transform, name: str):
    """torchvision ImageFolder; an empty or image-less folder raises naming it and the expected layout."""
    import torchvision

    try:
        return torchvision.datasets.ImageFolder(str(folder), transform=transform)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{name}: {folder} holds no usable class folder / image ({e}); expected layout: "
                                f"{LAYOUTS[name]}") from None


def check_same_classes(train_classes, val_classes, train_dir, val_dir) -> None:
    """ImageFolder indexes each folder's classes on its own (sorted names -> 0..K-1), so a val/ lacking a
    class of train/ (or holding an extra one) would shift every later class's label silently. Refuse it."""
    tr, va = list(train_classes), list(val_classes)
    if tr == va:
        return
    missing, extra = sorted(set(tr) - set(va)), sorted(set(va) - set(tr))
    parts = []
    if missing:
        parts.append(f"{val_dir} lacks {len(missing)} class folder(s) of {train_dir}: {missing[:10]}")
    if extra:
        parts.append(f"{val_dir} has {len(extra)} class folder(s) not in {train_dir}: {extra[:10]}")
    raise ValueError("train/ and val/ must hold the same class folders (labels are indexed by sorted folder "
                     "name in each): " + "; ".join(parts))


class _TinyImageNetVal:
    def __init__(self, val_dir: Path, class_to_idx: dict, transform):
        ann = val_dir / "val_annotations.txt"
        self.samples = []
        for k, line in enumerate(ann.read_text().splitlines()):
            if not line.strip():
                continue
            f = line.split("\t")
            if len(f) < 2 or f[1] not in class_to_idx:
                raise ValueError(f"{ann} line {k + 1}: expected '<file>\\t<wnid>\\t...' with a wnid that has a "
                                 f"train/ folder, got {line[:80]!r}")
            self.samples.append((val_dir / "images" / f[0], class_to_idx[f[1]]))
        self.targets = [t for _, t in self.samples]
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        from PIL import Image

        p, t = self.samples[i]
        x = Image.open(p).convert("RGB")
        return (self.transform(x) if self.transform else x), t
