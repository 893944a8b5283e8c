"""MNIST, offline: ``data/mnist.npz`` (uint8) -> float tensors in [-1, 1].

The npz is built by ``data/prepare_mnist.py`` from a PyPI wheel; its array contents are
checksummed on load, so a damaged file fails loudly instead of training on garbage.
"""
import hashlib
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .utils import DATA_DIR, normalize_to_neg_one_to_one

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
