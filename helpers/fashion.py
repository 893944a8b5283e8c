"""Other data for the same training code: FashionMNIST (offline) and CIFAR-10, through torchvision.

    x, y = load_dataset("fashion", "train")     # float (60000, 1, 28, 28) in [-1, 1], long (60000,)
    x, y = load_dataset("cifar10", "test")      # float (10000, 3, 32, 32) in [-1, 1], or DatasetUnavailable
    x, y = load_dataset("mnist", "val")         # the course's MNIST (helpers.data)
    trainer = train_small(x, y, x_val, y_val, minutes=3)   # the course's Trainer, sized by the data

FashionMNIST (Xiao et al. 2017) works offline: Debian's package ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``) installs the original gz files in
/usr/share/datasets/fashion-mnist. torchvision accepts a dataset as present when the
*decompressed* files sit in ``<root>/FashionMNIST/raw``; it would re-download if only the .gz files
were copied (their checksums differ from the ones it knows), so ``install_debian_fashion``
decompresses them there. CIFAR-10 (Krizhevsky 2009) has no offline source: it is read from the
cache if someone put it there, downloaded only when asked (``download=True``), and otherwise
``DatasetUnavailable`` says what to do. The cache is ~/.cache/diffusion-course (or $COURSE_CACHE).
"""
import gzip
import math
import os
import shutil
from functools import lru_cache
from pathlib import Path

import torch

from .data import mnist_tensors
from .train import Trainer, TrainConfig
from .unet import UNetConfig
from .utils import normalize_to_neg_one_to_one

DATASETS = ("mnist", "fashion", "cifar10")
CLASS_NAMES = {
    "mnist": [str(k) for k in range(10)],
    "fashion": ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                "ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}
IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion": (1, 28, 28), "cifar10": (3, 32, 32)}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
APT_INSTALL = "apt-get install -y dataset-fashion-mnist"
MAX_STEPS_PER_S = 10             # an upper bound for the progress bar of a time-budgeted run
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DatasetUnavailable(RuntimeError):
    """A dataset is neither cached nor installable offline; the message says how to get it."""


def cache_dir() -> Path:
    """Where torchvision datasets are kept: $COURSE_CACHE or ~/.cache/diffusion-course."""
    return Path(os.environ.get("COURSE_CACHE", "~/.cache/diffusion-course")).expanduser()


# FashionMNIST from the Debian package -----------------------------------------------------------

def install_debian_fashion(root: "str | Path | None" = None, source: Path = DEBIAN_FASHION) -> Path:
    """Decompress Debian's FashionMNIST gz files into <root>/FashionMNIST/raw (skipping files already
    there). Returns the raw folder; DatasetUnavailable if the package is not installed."""
    raw = Path(root or cache_dir()) / "FashionMNIST" / "raw"
    missing = [f for f in FASHION_FILES if not (source / f"{f}.gz").is_file()]
    if missing and not all((raw / f).is_file() for f in FASHION_FILES):
        raise DatasetUnavailable(f"FashionMNIST is not installed: {source} lacks {missing[0]}.gz. "
                                 f"Install it offline-ready with `{APT_INSTALL}` (Debian/Ubuntu).")
    raw.mkdir(parents=True, exist_ok=True)
    for f in FASHION_FILES:
        if not (raw / f).is_file():
            tmp = raw / f"{f}.tmp"
            with gzip.open(source / f"{f}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / f)
    return raw


# loading --------------------------------------------------------------------------------------

def _to_tensors(data, targets, channels_last: bool):
    """uint8 (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [-1, 1] and long (N,)."""
    x = torch.as_tensor(data)
    x = x.permute(0, 3, 1, 2) if channels_last else x.unsqueeze(1)
    return normalize_to_neg_one_to_one(x.float().div(255)).contiguous(), torch.as_tensor(targets).long()


@lru_cache(maxsize=4)
def _torchvision_split(name: str, train: bool, root: str, download: bool):
    from torchvision import datasets

    if name == "fashion":
        install_debian_fashion(root)
        ds = datasets.FashionMNIST(root, train=train, download=False)
        return _to_tensors(ds.data, ds.targets, channels_last=False)
    try:
        ds = datasets.CIFAR10(root, train=train, download=download)
    except Exception as e:  # RuntimeError "not found", or URLError / OSError when offline
        how = ("the download failed (no internet?)" if download else
               "downloading is off (load_dataset(..., download=True) fetches 170 MB once)")
        raise DatasetUnavailable(f"CIFAR-10 is not in {Path(root) / 'cifar-10-batches-py'} and {how}. "
                                 f"({type(e).__name__}: {e})") from e
    return _to_tensors(ds.data, ds.targets, channels_last=True)


def load_dataset(name: str = "mnist", split: str = "train", root: "str | Path | None" = None,
                 download: bool = False):
    """Images float (N, C, H, W) in [-1, 1] and labels long (N,) of one dataset split.

    name: "mnist" (splits train / val / test, helpers.data), "fashion" or "cifar10" (splits train /
    test). Raises ValueError for an unknown name or split, DatasetUnavailable when the data cannot be
    had offline (the message says how to get it).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {DATASETS}")
    if name == "mnist":
        return mnist_tensors(split)
    if split not in ("train", "test"):
        raise ValueError(f"{name} has the splits 'train' and 'test', got {split!r}")
    return _torchvision_split(name, split == "train", str(root or cache_dir()), bool(download))


# training on any of them --------------------------------------------------------------------------

def train_small(x, y, x_val=None, y_val=None, minutes: "float | None" = 2.0, max_steps: "int | None" = None,
                base: int = 32, mults=(1, 2, 2), batch_size: int = 64, seed: int = 0, progress: bool = True) -> Trainer:
    """A small class-conditional U-Net for images x (N, C, H, W) in [-1, 1] with labels y (N,) in 0..9
    (its size and channels taken from x), trained with the course's Trainer for `minutes` of
    training time or `max_steps` steps, whichever ends first (EMA decay 0.995: a short run needs a
    short memory). Returns the Trainer."""
    _, C, H, W = x.shape
    if H != W:
        raise ValueError(f"images must be square, got {H}x{W}")
    if minutes is None and max_steps is None:
        raise ValueError("give a time budget (minutes) or a step budget (max_steps)")
    steps_per_epoch = max(1, len(x) // batch_size)
    upper = max_steps if max_steps is not None else math.ceil(minutes * 60 * MAX_STEPS_PER_S)
    cfg = TrainConfig(epochs=(upper + 0.5) / steps_per_epoch, max_minutes=minutes, max_steps=max_steps, batch_size=batch_size,
                      warmup_steps=100 if max_steps is None else min(100, max_steps // 5), ema_decay=0.995,
                      sample_steps=0, val_size=1000, seed=seed)
    trainer = Trainer(UNetConfig(image_size=H, in_channels=C, base=base, mults=tuple(mults)), cfg)
    trainer.fit(x, y, x_val, y_val, progress=progress)
    return trainer


# a tiny colour dataset (tests, and the 32x32 RGB path without CIFAR-10) -------------------------

PALETTE = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1],
                        [0, 1, 1], [1, 1, 1], [1, .5, 0], [.5, 0, 1], [.5, .5, .5]])


def coloured_discs(n: int, size: int = 32, seed: int = 0):
    """n RGB images (n, 3, size, size) in [-1, 1] of one disc on black, class = its colour (10 classes),
    random centre and radius; labels long (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    centre = torch.rand(n, 2, generator=g) * size * 0.5 + size * 0.25
    radius = torch.rand(n, generator=g) * size * 0.15 + size * 0.15
    r = torch.arange(size).float()
    d2 = (r[None, :, None] - centre[:, 0, None, None]) ** 2 + (r[None, None, :] - centre[:, 1, None, None]) ** 2
    disc = (d2 <= radius[:, None, None] ** 2).float()                       # (n, size, size)
    return normalize_to_neg_one_to_one(disc[:, None] * PALETTE[y][:, :, None, None]), y


def disc_colour_class(x01: torch.Tensor, top: float = 0.05) -> torch.Tensor:
    """The class coloured_discs would give each image (N, 3, H, W) in [0, 1]: the palette colour
    nearest to the mean colour of its brightest pixels (the `top` fraction by largest channel; the
    smallest disc covers 7% of the image, so 5% lie inside it even when a half-trained model leaves a
    hazy background around the disc). Returns long (N,)."""
    if x01.dim() != 4 or x01.shape[1] != 3:
        raise ValueError(f"expected RGB images of shape (N, 3, H, W), got {tuple(x01.shape)}")
    brightness = x01.amax(1).flatten(1)                                  # (N, H*W)
    k = max(1, math.ceil(top * brightness.shape[1]))
    idx = brightness.topk(k, dim=1).indices                              # (N, k)
    colour = x01.flatten(2).gather(2, idx[:, None].expand(-1, 3, -1)).mean(2)   # (N, 3)
    return torch.cdist(colour, PALETTE.to(colour)).argmin(1)
