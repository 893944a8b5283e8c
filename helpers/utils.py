"""Small shared utilities: device choice, atomic checkpoint I/O, value-range helpers."""
import os
import tempfile
from pathlib import Path

import torch

# paths ----------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"


# value ranges ---------------------------------------------------------------------------------

def normalize_to_neg_one_to_one(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x01 * 2 - 1


def unnormalize_to_zero_to_one(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1) / 2).clamp(0, 1)


# devices --------------------------------------------------------------------------------------

def pick_device(device: "str | torch.device | None" = None) -> torch.device:
    """The requested device, or the best available one: cuda, then mps, then cpu."""
    if device not in (None, "auto"):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CPU and CUDA (it doubles CPU training throughput here); a no-op elsewhere."""
    enabled = enabled and device.type in ("cpu", "cuda")
    return torch.autocast(device_type=device.type if enabled else "cpu", dtype=torch.bfloat16,
                          enabled=enabled)


# checkpoints ----------------------------------------------------------------------------------

class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or not one of this course's."""


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
    """Load a checkpoint with ``weights_only=True`` and check it is the expected ``kind``.

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
