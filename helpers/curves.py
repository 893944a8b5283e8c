"""Reading a training run (notebook 03): loss curves, the sample grids saved during training, and
what the eps-MSE means for the image.

    fit_with_snapshots(trainer, x, y, x_val, y_val, snapshot_steps=(50, 150))  # extra early grids
    plot_history(trainer.history)                     # train loss (running, per stage), val loss
    snapshot_quality(trainer.history, classifier)     # accuracy and blur of every saved grid
    snapshot_figure(trainer.history)                  # rows: snapshots, columns: digits (same noise)
    implied_x0_mse(eps_mse, schedule, ts)             # eps-MSE / SNR(t): the error on the image

Why eps-MSE / SNR: x0_hat = (x_t - sqrt(1 - ab) eps_hat) / sqrt(ab), so
x0_hat - x0 = -sqrt((1 - ab) / ab) (eps_hat - eps) and MSE(x0_hat) = MSE(eps_hat) / SNR(t).
"""
import torch

from .experiments import classifier_accuracy, mid_gray_fraction, mse
from .notebook import show_grid
from .plots import new_figure, plot_curves
from .samplers import guided_eps

# training with extra snapshots ----------------------------------------------------------------

def fit_with_snapshots(trainer, x, y, x_val=None, y_val=None, snapshot_steps=(), **fit_kw):
    """Trainer.fit, plus an end-of-epoch entry (val losses, sample grid, checkpoint, on_epoch_end)
    at every step in snapshot_steps, so that the first minutes of training get sample grids too.

    Needs a time budget (TrainConfig(max_minutes=...)): the learning rate is then constant after
    warm-up, so stopping at a snapshot and going on changes nothing but the extra evaluations.
    x, x_val: (N, C, H, W) in [-1, 1]; y, y_val: (N,). Returns trainer.history.
    """
    c = trainer.config
    if snapshot_steps and c.max_minutes is None:
        raise ValueError("fit_with_snapshots needs TrainConfig(max_minutes=...): under the cosine "
                         "learning-rate schedule an early stop would change the learning rate")
    final = c.max_steps
    try:
        for s in sorted(int(s) for s in snapshot_steps):
            if s <= trainer.step or trainer.elapsed >= c.max_minutes * 60:
                continue
            if final is not None and s >= final:
                break
            c.max_steps = s
            trainer.fit(x, y, x_val, y_val, **fit_kw)
    finally:
        c.max_steps = final
    history = trainer.fit(x, y, x_val, y_val, **fit_kw)
    if fit_kw.get("checkpoint"):
        trainer.save(fit_kw["checkpoint"])        # its config must not keep a snapshot's max_steps
    return history


# numbers from the history ---------------------------------------------------------------------

def improvement_summary(values, steps=None) -> dict:
    """How a loss sequence (one value per evaluation) improved: first, last, best, relative drop,
    how many of the intervals went down, the largest relative rise, and the relative drop over the
    second half of training ("second_half_drop": from the last evaluation at or before half of the
    final step when steps are given, else from the middle evaluation)."""
    v = [float(a) for a in values]
    if len(v) < 2:
        raise ValueError(f"need at least two values to speak of improvement, got {len(v)}")
    if steps is not None and len(steps) != len(v):
        raise ValueError(f"{len(v)} values but {len(steps)} steps")
    pairs = list(zip(v[:-1], v[1:]))
    if steps is None:
        half = (len(v) - 1) // 2
    else:
        half = max([k for k, s in enumerate(steps) if s <= steps[-1] / 2], default=0)
    return {"first": v[0], "last": v[-1], "best": min(v), "drop": 1 - v[-1] / v[0],
            "decreases": sum(b < a for a, b in pairs), "intervals": len(pairs),
            "monotone": all(b < a for a, b in pairs), "worst_rise": max(b / a - 1 for a, b in pairs),
            "half_step": None if steps is None else steps[half], "second_half_drop": 1 - v[-1] / v[half]}


def grid_labels(n: int, num_classes: int = 10) -> torch.Tensor:
    """Labels of a Trainer.sample_grid of n images: each digit n / num_classes times, in order."""
    if n % num_classes:
        raise ValueError(f"a sample grid holds a multiple of {num_classes} images, got {n}")
    return torch.arange(num_classes).repeat_interleave(n // num_classes)


def snapshot_quality(history: dict, classifier) -> dict:
    """For every sample grid in history["samples"] (uint8 (10 k, 1, 28, 28), k per digit in order):
    its step, the classifier's accuracy on the requested digits and the fraction of mid-grey pixels
    (blur: real MNIST digits have few). Returns {"step", "accuracy", "gray"} as lists."""
    out = {"step": [], "accuracy": [], "gray": []}
    for step, grid in zip(history["step"], history["samples"]):
        x01 = grid.float() / 255
        out["step"].append(step)
        out["accuracy"].append(classifier_accuracy(classifier, x01, grid_labels(len(grid))))
        out["gray"].append(mid_gray_fraction(x01))
    return out


# what the loss means --------------------------------------------------------------------------

def implied_x0_mse(eps_mse, schedule, ts) -> torch.Tensor:
    """MSE of the image estimate x0_hat implied by an eps-MSE at each t: eps_mse / SNR(t)."""
    ts = schedule.check_t(torch.as_tensor(ts))
    return torch.as_tensor(eps_mse, dtype=torch.float32) / schedule.snr[ts]


@torch.no_grad()
def eps_and_x0_mse(model, schedule, x0: torch.Tensor, y: torch.Tensor, t: int, seed: int = 0):
    """Measure both errors of one network call at timestep t: (MSE of eps_hat to eps, MSE of the
    unclipped x0_hat = predict_x0(x_t, eps_hat) to x0). x0 (N, C, H, W) in [-1, 1], y (N,)."""
    device = next(model.parameters()).device
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), int(t)))
    eps = guided_eps(model, x_t.to(device), int(t), y.to(device), 1.0, schedule=schedule).cpu()
    return mse(eps, noise), mse(schedule.predict_x0(x_t, eps, int(t)), x0)


# figures --------------------------------------------------------------------------------------

def plot_history(history: dict):
    """Train loss (running mean of 50 steps and mean per stage) and validation loss of the EMA and
    raw weights against the optimizer step, on a log scale. Returns the Figure."""
    fig, (ax,) = new_figure(7, 3.8)
    running = list(zip(*history["step_loss"])) or ([], [])
    plot_curves({"train (running mean of 50 steps)": running}, "", "", ax=ax)
    plot_curves({"train (mean since the previous evaluation)": (history["step"], history["train_loss"]),
                 "validation, EMA weights": (history["step"], history["val_loss"]),
                 "validation, raw weights": (history["step"], history["val_loss_raw"])},
                "optimizer step", "eps-MSE", ax=ax, logy=True, marker="o")
    ax.legend(fontsize=8)
    ax.set_title("loss during training")
    return fig


def snapshot_figure(history: dict, per_digit: int = 1):
    """Rows: the sample grids saved during training (same noise each time); columns: per_digit
    samples of each digit 0..9. Row labels give the step and training minutes. Returns the Figure."""
    grids = history["samples"]
    if not grids:
        raise ValueError("the history holds no sample grids (TrainConfig.sample_steps=0?)")
    k = len(grids[0]) // 10
    if not 1 <= per_digit <= k:
        raise ValueError(f"per_digit must lie in 1..{k}, got {per_digit}")
    keep = torch.arange(10)[:, None] * k + torch.arange(per_digit)[None]          # (10, per_digit)
    rows = torch.cat([g[keep.flatten()] for g in grids]).float() / 255
    n = 10 * per_digit
    fig, (ax,) = new_figure(0.42 * n + 1.6, 0.42 * len(grids) + 0.8)
    labels = [f"step {s} ({t / 60:.1f} min)" for s, t in zip(history["step"], history["time"])]
    show_grid(rows, nrow=n, ax=ax, row_labels=labels,
              col_labels=[str(d) for d in range(10) for _ in range(per_digit)],
              title="EMA samples during training (same noise every time)")
    return fig


def compare_grids(images: dict, nrow: int = 10, col_labels=None):
    """One panel per {title: images (N, 1, H, W) in [0, 1]}, side by side. Returns the Figure."""
    n = max(len(x) for x in images.values())
    rows = -(-n // nrow)
    fig, axes = new_figure(0.38 * nrow * len(images) + 0.6, 0.38 * rows + 0.8, ncols=len(images))
    for ax, (title, x) in zip(axes, images.items()):
        show_grid(x, nrow=nrow, ax=ax, title=title, col_labels=col_labels)
    return fig


def plot_loss_by_t(ts, eps_mse: dict, schedule, x0_reference: "float | None" = None):
    """Left: eps-MSE against t for each {name: (len(ts),) losses}, with the eps = 0 baseline (1.0).
    Right: the implied MSE of x0_hat (log scale), against guessing the average digit
    (x0_reference). Returns the Figure."""
    fig, (a0, a1) = new_figure(11, 3.6, ncols=2)
    ts = [int(t) for t in ts]
    plot_curves({k: (ts, v.tolist()) for k, v in eps_mse.items()}, "timestep t", "eps-MSE", ax=a0,
                logy=True, marker="o", title="noise-prediction error at each t")
    a0.axhline(1.0, color="k", ls="--", lw=1, label="predict eps = 0")
    a0.legend(fontsize=8)
    plot_curves({k: (ts, implied_x0_mse(v, schedule, ts).tolist()) for k, v in eps_mse.items()},
                "timestep t", "MSE of x0_hat = eps-MSE / SNR(t)", ax=a1, logy=True, marker="o",
                title="what that error means for the image")
    if x0_reference is not None:
        a1.axhline(x0_reference, color="k", ls="--", lw=1, label="guess the average digit")
        a1.set_ylim(top=100 * x0_reference)               # near t = T-1 the SNR is ~0: off the chart
    a1.legend(fontsize=8)
    return fig
