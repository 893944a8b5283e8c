"""Checkpoint files: written atomically, read with ``weights_only=True``, each stamped with its kind.

    save_atomic({"kind": DIFFUSION, ...}, "runs/model.pt")     # temp file + rename: never half a file
    ckpt = load_checkpoint("runs/model.pt", DIFFUSION, required=("config", "ema"))

The kinds: DIFFUSION (a Trainer's state, or the slim shipped model data/ddpm_mnist.pt) and
CLASSIFIER (the course's judge, data/mnist_classifier.pt). The course's CLIP is a transformers
folder (data/clip-mnist), saved and loaded by helpers.clip.
"""
import os
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DIFFUSION = "diffusion-course/ddpm"
CLASSIFIER = "diffusion-course/classifier"


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupted, incomplete or not one of this course's."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_atomic(obj: dict, path: "str | Path") -> Path:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())                 # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: "str | Path", kind: str, required=("config",)) -> dict:
    """Load a checkpoint with ``weights_only=True`` and check that it is the expected ``kind``.

    Raises FileNotFoundError for a missing file and CheckpointError for a truncated,
    corrupted or foreign one, each naming the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled code ...
        raise CheckpointError(f"cannot read checkpoint {path}: the file is truncated or corrupted "
                              f"({type(e).__name__}: {e}). Re-train it or restore it from git.") from e
    if not isinstance(ckpt, dict) or ckpt.get("kind") != kind:
        found = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a {kind!r} checkpoint of this course (found {found!r})")
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it is incomplete or from another version")
    return ckpt
