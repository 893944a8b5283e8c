"""Notebook plumbing: quick mode, recorded metrics, image grids and a figure style.

Every notebook records its key results with ``record(...)``; the values are shown as a table and
stored in the output's metadata, where the tests and the grader (``python -m helpers.grade``)
read them back with ``read_metrics``.
"""
import json
import math
import os
from pathlib import Path

import torch

METRICS_KEY = "course_metrics"


def quick_default() -> bool:
    """Quick mode from the environment (COURSE_QUICK=1), so nbval and CI can switch it on."""
    return os.environ.get("COURSE_QUICK", "0").lower() in ("1", "true", "yes")


def check_params(**params):
    """Raise a ValueError that names a notebook parameter with a bad value.

    Each keyword is name=(value, predicate, what) e.g. epochs=(epochs, lambda v: v > 0, "> 0").
    """
    for name, (value, ok, what) in params.items():
        try:
            good = ok(value)
        except Exception:
            good = False
        if not good:
            raise ValueError(f"bad notebook parameter {name}={value!r}: expected {what}")


def _plain(v):
    if isinstance(v, torch.Tensor):
        v = v.tolist()
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def record(**metrics):
    """Show and store key results, e.g. record(final_val_loss=0.031, accuracy=0.995): a markdown table
    for the reader, JSON for read_metrics and the grader. Returns None, so a record(...) that ends a
    cell does not echo the metrics a second time as a dict."""
    from IPython.display import display
    metrics = {k: _plain(v) for k, v in metrics.items()}
    rows = "\n".join(f"| `{k}` | {json.dumps(v) if not isinstance(v, float) else f'{v:.4g}'} |"
                     for k, v in metrics.items())
    display({"text/markdown": "| recorded metric | value |\n|---|---|\n" + rows,
             "application/json": metrics}, raw=True, metadata={METRICS_KEY: True})


def read_metrics(notebook: "str | Path | dict") -> dict:
    """All metrics a (executed) notebook recorded, merged in cell order."""
    nb = json.loads(Path(notebook).read_text()) if not isinstance(notebook, dict) else notebook
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            if o.get("metadata", {}).get(METRICS_KEY) and "application/json" in o.get("data", {}):
                out.update(o["data"]["application/json"])
    return out


# figures --------------------------------------------------------------------------------------

def setup_style():
    import matplotlib as mpl
    mpl.rcParams.update({"figure.dpi": 100, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3, "font.size": 10, "image.cmap": "gray"})


def image_grid(x: torch.Tensor, nrow: int = 10, pad: int = 2, value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (H', W') or (H', W', 3) image for imshow."""
    x = x.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, c, h, w = x.shape
    ncol = nrow
    nr = math.ceil(n / ncol)
    out = torch.full((c, nr * (h + pad) + pad, ncol * (w + pad) + pad), value)
    for i in range(n):
        r, k = divmod(i, ncol)
        out[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    return out[0] if c == 1 else out.permute(1, 2, 0)


def show_grid(x, nrow=10, title=None, ax=None, row_labels=None, col_labels=None):
    """imshow an image grid with optional row / column labels; returns the axis."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(nrow * 0.6, math.ceil(len(x) / nrow) * 0.6 + 0.4))[1]
    ax.imshow(image_grid(x, nrow), cmap="gray", vmin=0, vmax=1)
    ax.grid(False)
    h = x.shape[-2] + 2
    ax.set_xticks([2 + h * k + h / 2 - 1 for k in range(len(col_labels))] if col_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels)
    ax.set_yticks([2 + h * k + h / 2 - 1 for k in range(len(row_labels))] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels)
    if title:
        ax.set_title(title)
    return ax
