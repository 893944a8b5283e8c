"""helpers.data: the offline MNIST file, its splits, scaling, checksum, and errors on damage."""
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

from helpers.data import (MNIST_CONTENT_SHA256, MNIST_PATH, DataError, content_sha256, load_mnist_arrays,
                          mnist_dataset, mnist_tensors, random_subset)

# the classic MNIST class counts (issue 2), independent of the values stored in helpers.data
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def fresh_cache():
    """load_mnist_arrays is lru_cached by path: forget the tmp copies (and their memory) around a test."""
    load_mnist_arrays.cache_clear()
    yield
    load_mnist_arrays.cache_clear()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] floats back to the stored 0..255 bytes (exact if the scaling is x / 127.5 - 1)."""
    u = (x + 1) * 127.5
    assert torch.allclose(u, u.round(), atol=1e-4), "images must be k / 255 mapped linearly to [-1, 1]"
    return u.round().to(torch.uint8).numpy()


# the shipped file -----------------------------------------------------------------------------

def test_file_is_shipped_and_passes_its_checksum():
    assert MNIST_PATH.is_file(), f"{MNIST_PATH} is missing: run python data/prepare_mnist.py"
    arrays = load_mnist_arrays()
    assert content_sha256(arrays) == MNIST_CONTENT_SHA256
    assert arrays["x_train"].shape == (60000, 28, 28) and arrays["x_test"].shape == (10000, 28, 28)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].shape == (60000,)


@pytest.mark.parametrize("split,counts", [("train_full", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_class_counts(split, counts):
    x, y = mnist_tensors(split)
    assert len(x) == sum(counts)
    assert torch.bincount(y, minlength=10).tolist() == counts


@pytest.mark.parametrize("split,n", [("train", 55000), ("val", 5000), ("test", 10000), ("train_full", 60000)])
def test_shapes_dtypes_and_value_range(split, n):
    x, y = mnist_tensors(split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.long
    assert x.min() == -1 and x.max() == 1
    assert y.min() == 0 and y.max() == 9


def test_train_and_val_partition_the_training_set():
    """train (55k) + val (5k) hold exactly the 60k training (image, label) pairs: as multisets,
    train + val == train_full, so no example is in both splits (beyond MNIST's own duplicates)."""
    rows = lambda x, y: Counter(map(bytes, np.concatenate([to_uint8(x).reshape(len(x), -1),
                                                            y.numpy().astype(np.uint8)[:, None]], 1)))
    train, val, full = rows(*mnist_tensors("train")), rows(*mnist_tensors("val")), rows(*mnist_tensors("train_full"))
    assert sum(train.values()) == 55000 and sum(val.values()) == 5000
    assert train + val == full


def test_val_split_is_fixed_and_class_balanced():
    y1, y2 = mnist_tensors("val")[1], mnist_tensors("val")[1]
    assert torch.equal(y1, y2)
    counts = torch.bincount(y1, minlength=10)
    assert counts.min() > 350 and counts.max() < 650, f"a random 5k split has ~500 per class, got {counts.tolist()}"


def test_dataset_and_random_subset():
    ds = mnist_dataset("test")
    img, label = ds[0]
    assert len(ds) == 10000 and img.shape == (1, 28, 28) and label.dtype == torch.long
    x, y = mnist_tensors("test")
    xs, ys = random_subset(x, y, 100, seed=3)
    xs2, _ = random_subset(x, y, 100, seed=3)
    assert xs.shape == (100, 1, 28, 28) and torch.equal(xs, xs2)
    assert len(set(ys.tolist())) > 5, "a random subset must not be a slice of one class"


def test_unknown_split_raises():
    with pytest.raises(ValueError, match="'validation'"):
        mnist_tensors("validation")


# damaged copies -------------------------------------------------------------------------------

def assert_rebuild_hint(err: pytest.ExceptionInfo, path):
    msg = str(err.value)
    assert str(path) in msg and "prepare_mnist.py" in msg, f"the error must name the file and the fix: {msg}"


@pytest.mark.usefixtures("fresh_cache")
def test_truncated_file_raises_data_error(tmp_path):
    bad = tmp_path / "mnist.npz"
    data = MNIST_PATH.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        mnist_tensors("test", path=bad)
    assert_rebuild_hint(err, bad)


@pytest.mark.usefixtures("fresh_cache")
def test_one_altered_pixel_fails_the_checksum(tmp_path):
    arrays = dict(load_mnist_arrays())
    x = arrays["x_train"].copy()
    x[123, 14, 14] ^= 0xFF                                   # flip one pixel's bits
    arrays["x_train"] = x
    bad = tmp_path / "mnist.npz"
    np.savez_compressed(bad, **arrays)
    with pytest.raises(DataError, match="checksum") as err:
        mnist_tensors("train", path=bad)
    assert_rebuild_hint(err, bad)


@pytest.mark.usefixtures("fresh_cache")
def test_missing_array_raises_data_error(tmp_path):
    arrays = dict(load_mnist_arrays())
    del arrays["y_test"]
    bad = tmp_path / "mnist.npz"
    np.savez(bad, **arrays)
    with pytest.raises(DataError) as err:
        mnist_tensors("test", path=bad)
    assert_rebuild_hint(err, bad)


@pytest.mark.usefixtures("fresh_cache")
def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="not found") as err:
        mnist_tensors("test", path=tmp_path / "mnist.npz")
    assert_rebuild_hint(err, tmp_path / "mnist.npz")


@pytest.mark.usefixtures("fresh_cache")
def test_an_intact_copy_elsewhere_loads(tmp_path):
    good = tmp_path / "copy.npz"
    shutil.copy(MNIST_PATH, good)
    x, y = mnist_tensors("test", path=good)
    assert torch.equal(y, mnist_tensors("test")[1])
