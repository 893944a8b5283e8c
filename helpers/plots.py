"""Every figure of the course. Each function returns a pyplot-free Figure (or an axis): show it
with show_figure(fig), which works under any matplotlib backend and leaves nothing open behind a
re-run cell.

    show_figure(plot_schedules({"cosine": schedule}))
    show_figure(grid_figure(x01, nrow=10, title="samples").figure)

Image tensors are (N, C, H, W) in [0, 1] unless a name says otherwise (x_t, x0_hat: [-1, 1]).
"""
import io
import math

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analysis import implied_x0_mse
from .evaluate import mean_spread
from .data import unnormalize_to_zero_to_one


# figures and image grids -------------------------------------------------------------------

def new_figure(w: float, h: float, ncols: int = 1, nrows: int = 1, **kw):
    """A pyplot-free Figure (nothing left open behind a re-run cell) and its axes."""
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def show_figure(fig: Figure):
    """Display a pyplot-free figure as a PNG output (works under any matplotlib backend)."""
    from IPython.display import Image, display
    display(Image(data=figure_png(fig)))


def np_(v):
    """A tensor as a NumPy array for matplotlib (anything else unchanged)."""
    return v.detach().float().cpu().numpy() if isinstance(v, torch.Tensor) else v


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


def grid_figure(x01: torch.Tensor, nrow: int, title=None, row_labels=None, col_labels=None, cell: float = 0.62):
    """show_grid on a pyplot-free figure sized for (N, C, H, W) images in [0, 1]; frameless.
    Returns the axis (its .figure for show_figure)."""
    nr = math.ceil(len(x01) / nrow)
    ax = new_figure(cell * nrow + (1.2 if row_labels else 0.3), cell * nr + 0.8)[1][0]
    show_grid(x01, nrow=nrow, ax=ax, title=title, row_labels=row_labels, col_labels=col_labels)
    ax.images[-1].set_interpolation("nearest")          # true pixels, and PNGs of noise 4x smaller
    ax.spines[:].set_visible(False)
    return ax


def grid_png(x01: torch.Tensor, nrow: int, title: str = "", col_labels=None) -> bytes:
    """A PNG of an image grid (N, C, H, W) in [0, 1], for an ipywidgets.Image."""
    return figure_png(grid_figure(x01, nrow, title=title, col_labels=col_labels).figure)


def compare_grids(images: dict, nrow: int = 10, col_labels=None):
    """One panel per {title: images (N, 1, H, W) in [0, 1]}, side by side. Returns the Figure."""
    n = max(len(x) for x in images.values())
    rows = -(-n // nrow)
    fig, axes = new_figure(0.38 * nrow * len(images) + 0.6, 0.38 * rows + 0.8, ncols=len(images))
    for ax, (title, x) in zip(axes, images.items()):
        show_grid(x, nrow=nrow, ax=ax, title=title, col_labels=col_labels)
    return fig


def plot_curves(curves: dict, xlabel: str, ylabel: str, ax=None, logy: bool = False, title=None,
                marker=None):
    """One line per entry of curves {label: (x, y)} (y entries may be None: skipped)."""
    ax = ax if ax is not None else new_figure(5, 3.2)[1][0]
    for label, (x, y) in curves.items():
        pts = [(a, b) for a, b in zip(x, y) if b is not None]
        if pts:
            ax.plot(*(np_(torch.as_tensor(c)) for c in zip(*pts)), label=label, marker=marker)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    return ax


# the forward process -----------------------------------------------------------------------

def snr_db(schedule, t=None):
    snr = schedule.snr if t is None else schedule.snr[int(t)]
    return 10 * torch.log10(snr)


def forward_frames(x0: torch.Tensor, schedule, ts, noise: "torch.Tensor | None" = None, seed: int = 0):
    """x_t of x0 (N, C, H, W) in [-1, 1] at each t in ts, with one shared noise draw.

    Returns (frames: list of (N, C, H, W) in [0, 1] (x_t clipped for display), titles)."""
    noise = noise if noise is not None else torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    frames, titles = [], []
    for t in ts:
        x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), int(t)))
        frames.append(unnormalize_to_zero_to_one(x_t))
        titles.append(f"t = {int(t)}   alpha_bar = {schedule.alpha_bar[int(t)]:.3f}   "
                      f"SNR = {snr_db(schedule, t):.1f} dB")
    return frames, titles


def noising_grid(x0: torch.Tensor, schedule, ts, noise=None):
    """Rows: images of x0 (N, C, H, W) in [-1, 1]; columns: x_t at each t in ts."""
    frames, _ = forward_frames(x0, schedule, ts, noise)
    grid = torch.stack(frames, 1).flatten(0, 1)                 # image-major: row i is x0[i]
    ax = grid_figure(grid, nrow=len(ts), col_labels=[str(int(t)) for t in ts],
                     title="forward diffusion: the same digits and noise at increasing t")
    ax.set_xlabel("timestep t")
    return ax


def pixel_histogram(x: torch.Tensor, ax, bins: int = 60, lim: float = 4.0, label: str = "pixels of x_t"):
    """Density histogram of every value of x, against the N(0, 1) density."""
    v = x.detach().float().flatten().clamp(-lim, lim).numpy()
    ax.hist(v, bins=bins, range=(-lim, lim), density=True, alpha=0.6, label=label)
    z = torch.linspace(-lim, lim, 200)
    ax.plot(np_(z), np_(torch.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)), "k--", lw=1.2, label="N(0, 1)")
    ax.set(xlim=(-lim, lim), xlabel="pixel value", ylabel="density")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def schedule_position(schedule, t: int, ax):
    """alpha_bar_t (left axis) and SNR in dB (right axis) over all t, with a marker at t."""
    ts = np_(torch.arange(schedule.T))
    ax.plot(ts, np_(schedule.alpha_bar), color="C0")
    ax.set(xlabel="t", ylabel="alpha_bar_t", ylim=(-0.02, 1.02))
    ax.yaxis.label.set_color("C0")
    ax2 = ax.twinx()
    ax2.plot(ts, np_(snr_db(schedule)), color="C3", lw=1)
    ax2.set_ylabel("SNR (dB)", color="C3")
    ax2.grid(False)
    ax.axvline(int(t), color="k", lw=1)
    ax.plot([int(t)], [schedule.alpha_bar[int(t)].item()], "ko")
    return ax


def forward_figure(x0: torch.Tensor, schedule, t: int, noise: torch.Tensor, nrow: int = 4) -> Figure:
    """One frame of the forward process at timestep t: x_t of x0 (N, C, H, W) in [-1, 1], the
    histogram of its pixels against N(0, 1), and where t sits on the alpha_bar and SNR curves."""
    t = int(schedule.check_t(t))
    x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), t))
    fig, (a0, a1, a2) = new_figure(11, 3.2, ncols=3, width_ratios=[1, 1.2, 1.3])
    a0.imshow(np_(image_grid(unnormalize_to_zero_to_one(x_t), nrow)), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    a0.set_axis_off()
    a0.set_title(f"x_t at t = {t} (shown clipped to [-1, 1])", fontsize=9)
    pixel_histogram(x_t, a1)
    a1.set_title(f"pixel histogram: mean {x_t.mean():.2f}, std {x_t.std():.2f}", fontsize=9)
    schedule_position(schedule, t, a2)
    a2.set_title(f"alpha_bar = {schedule.alpha_bar[t]:.3f}, SNR = {schedule.snr[t]:.3g} "
                 f"({snr_db(schedule, t):.1f} dB)", fontsize=9)
    return fig


def plot_schedules(schedules: dict, marks: "dict | None" = None):
    """beta_t, alpha_bar_t and SNR (dB) of each {name: NoiseSchedule}; marks {name: {level: t}}
    (see analysis.destruction_times) draws where alpha_bar first falls below each level."""
    fig, axes = new_figure(13, 3.6, ncols=3)
    styles = ["--", ":", "-."]
    for k, (name, s) in enumerate(schedules.items()):
        ts, color = np_(torch.arange(s.T)), f"C{k}"
        axes[0].plot(ts, np_(s.betas), color=color, label=name)
        axes[1].plot(ts, np_(s.alpha_bar), color=color, label=name)
        axes[2].plot(ts, np_(snr_db(s)), color=color, label=name)
        for j, (level, t) in enumerate((marks or {}).get(name, {}).items()):
            if t is not None:
                for ax in axes[1:]:
                    ax.axvline(t, color=color, ls=styles[j % 3], lw=1,
                               label=f"{name}: alpha_bar < {level} at t = {t}" if ax is axes[1] else None)
    axes[0].set(yscale="log", xlabel="t", ylabel="beta_t", title="noise added per step")
    axes[1].set(xlabel="t", ylabel="alpha_bar_t", title="signal kept: alpha_bar_t")
    axes[2].set(xlabel="t", ylabel="SNR (dB)", title="SNR = alpha_bar / (1 - alpha_bar)")
    axes[2].axhline(0, color="k", lw=0.8)
    axes[0].legend()
    axes[1].legend(fontsize=7)
    return fig


def plot_recovery(res: dict, gray_reference: "float | None" = None):
    """MSE to x0, classifier accuracy and mid-grey fraction against t for one network call and the
    reverse process (res from analysis.recovery_experiment)."""
    has_acc = any(a is not None for a in res["acc_one_shot"])
    fig, axes = new_figure(4.2 * (3 if has_acc else 2), 3.4, ncols=3 if has_acc else 2)
    names = {"one_shot": "one network call", "reverse": "reverse process (DDIM)"}
    panels = [("mse", "MSE to the true x0"), ("gray", "fraction of mid-grey pixels")]
    if has_acc:
        panels.insert(1, ("acc", "classifier accuracy"))
    for ax, (key, ylabel) in zip(axes, panels):
        plot_curves({names[w]: (res["t"], res[f"{key}_{w}"]) for w in names}, "t of the start x_t",
                    ylabel, ax=ax, marker="o")
        if key == "gray" and gray_reference is not None:
            ax.axhline(gray_reference, color="k", ls="--", lw=1, label="real digits")
            ax.legend()
    return fig


def recovery_examples(res: dict, ts=None, n: int = 4):
    """Rows x_t / one call / reverse process, one column per t: n images in each cell."""
    ts = list(ts if ts is not None else res["t"])
    rows = ["x_t", "one call", "reverse"]
    fig, axes = new_figure(max(3.0, 1.45 * len(ts) + 0.5), 4.6, ncols=len(ts), nrows=3)
    k = math.ceil(math.sqrt(n))
    for j, t in enumerate(ts):
        for i, x in enumerate(res["images"][t]):
            ax = axes[i * len(ts) + j]
            ax.imshow(np_(image_grid(x[:n], k)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            ax.spines[:].set_visible(False)
            if i == 0:
                ax.set_title(f"t = {t}", fontsize=9)
            if j == 0:
                ax.set_ylabel(rows[i])
    return fig


# the U-Net ---------------------------------------------------------------------------------

def plot_time_embedding(emb: torch.Tensor, dims=(3, 6, 9, 12)):
    """emb (T, D): the sinusoidal embedding of every t; heat map and a few of its dimensions."""
    fig, (a0, a1) = new_figure(11, 3.4, ncols=2)
    a0.imshow(np_(emb.T), aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    a0.set(xlabel="t", ylabel="dimension (sin | cos)", title=f"SinusoidalPosEmb: {emb.shape[1]} numbers per t")
    a0.grid(False)
    D = emb.shape[1]
    for d in dims:
        if d < D:
            a1.plot(np_(emb[:, d]), label=f"dim {d}")
    a1.set(xlabel="t", ylabel="value", title="low dimensions oscillate fast, high ones slowly")
    a1.legend(fontsize=8)
    return fig


def similarity_heatmap(vectors: torch.Tensor, labels, ax=None, title=None):
    """Cosine similarity between the rows of vectors (K, D), as a K x K heat map with values."""
    v = torch.nn.functional.normalize(vectors.detach().float().cpu(), dim=1)
    sim = v @ v.T
    ax = ax if ax is not None else new_figure(5.4, 4.6)[1][0]
    im = ax.imshow(np_(sim), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(labels)), [str(l) for l in labels])
    ax.set_yticks(range(len(labels)), [str(l) for l in labels])
    ax.grid(False)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{sim[i, j]:.1f}", ha="center", va="center", fontsize=6)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    return ax


def label_sweep_grid(x_t: torch.Tensor, x0_hat: torch.Tensor, labels=range(10), title=None):
    """Row per image: its x_t, then x0_hat under each label. x_t (N, C, H, W), x0_hat (N, L, C, H, W),
    both in [-1, 1]."""
    labels = list(labels)
    cells = torch.cat([x_t[:, None], x0_hat], 1).flatten(0, 1)
    return grid_figure(unnormalize_to_zero_to_one(cells), nrow=len(labels) + 1,
                       col_labels=["x_t"] + [str(int(y)) for y in labels], title=title)


def plot_label_sweep(ts, spread, follow=None):
    """Two panels over the t of x_t: how much the one-call x0_hat changes across the labels
    (spread), and the share of reverse-process results read as the requested label (follow,
    None without a classifier; the dashed line is chance, 10%)."""
    fig, (a0, a1) = new_figure(10, 3.2, ncols=2)
    plot_curves({"one call": (ts, spread)}, "t of x_t", "pixel std across the 10 labels", ax=a0, marker="o",
                title="how much x0_hat changes with the label")
    if follow is not None:
        plot_curves({"reverse process": (ts, follow)}, "t of x_t", "share read as the requested label", ax=a1,
                    marker="o", title="does the result follow the label?")
        a1.axhline(0.1, color="k", ls="--", lw=1)
        a1.set_ylim(0, 1)
    return fig


def plot_t_sweep(sweep: dict, t_true: int):
    """Two panels over the t told to the model (analysis.t_sweep's result for images noised at
    t_true, marked by a dashed line): the MSE of eps_hat to the true noise, and the RMS of eps_hat."""
    fig, (a0, a1) = new_figure(10, 3.3, ncols=2)
    plot_curves({"eps-MSE": (sweep["t"], sweep["eps_mse"])}, "t told to the model", "MSE to the true noise",
                ax=a0, logy=True, title=f"images noised at t = {t_true}")
    plot_curves({"RMS of eps_hat": (sweep["t"], sweep["eps_rms"])}, "t told to the model",
                "RMS of the predicted noise", ax=a1, title="how much noise the model thinks it sees")
    for ax in (a0, a1):
        ax.axvline(t_true, color="k", ls="--", lw=1)
    return fig


# training ----------------------------------------------------------------------------------

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


def plot_snapshot_quality(quality: dict, real_gray: "float | None" = None):
    """Left: classifier accuracy of each saved sample grid against the step; right: its mid-grey
    pixel fraction (blur), against real digits' (real_gray). quality: helpers.analysis.snapshot_quality.
    Returns the Figure."""
    fig, axes = new_figure(10, 3.2, ncols=2)
    plot_curves({"EMA samples": (quality["step"], quality["accuracy"])}, "optimizer step",
                "classifier accuracy", ax=axes[0], marker="o", title="do the samples show the requested digit?")
    plot_curves({"EMA samples": (quality["step"], quality["gray"])}, "optimizer step", "mid-grey pixel fraction",
                ax=axes[1], marker="o", title="how blurred are they?")
    if real_gray is not None:
        axes[1].axhline(real_gray, color="k", ls="--", lw=1, label="real digits")
        axes[1].legend()
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


# the reverse process -----------------------------------------------------------------------

def trajectory_frames(traj, which: str = "x_t", max_images: int = 16, every: int = 1):
    """Frames and titles for animation_scrubber from a samplers.Trajectory.

    which="x_t": the noisy images x_T ... x_0; which="x0": the model's estimate of x_0 at each step.
    """
    if which not in ("x_t", "x0"):
        raise ValueError(f"which must be 'x_t' or 'x0', got {which!r}")
    ts = [int(t) for t in traj.timesteps]
    seq = traj.x_t if which == "x_t" else traj.x0
    if which == "x_t":
        labels = [f"x_t at t = {t} (step {k} of {len(ts)})" for k, t in enumerate(ts)] + ["x_0 (done)"]
    else:
        labels = [f"x0_hat predicted at t = {t} (step {k + 1} of {len(ts)})" for k, t in enumerate(ts)]
    keep = sorted(set(range(0, len(seq), every)) | {len(seq) - 1})
    return ([unnormalize_to_zero_to_one(seq[k][:max_images]) for k in keep], [labels[k] for k in keep])


def plot_scores(scores: dict, title: str = "", controls: "dict | None" = None, chance: float = 0.1):
    """Accuracy and confidence against the fraction completed for each of scores {"x_t", "x0",
    "x_t_read"} (from score_trajectory), with the report's 40-60 % window shaded; controls {key:
    Curves} (real digits noised to the same t, noised_real_curves) are drawn dashed in their key's colour."""
    names = {"x_t": "x_t (noisy image)", "x0": "x0_hat (model's prediction)",
             "x_t_read": "x_t through the linear denoiser"}
    colors = {"x_t": "C0", "x0": "C1", "x_t_read": "C2"}
    fig, axes = new_figure(11.5, 3.8, ncols=2)
    for ax, key in zip(axes, ("accuracy", "confidence")):
        ax.axvspan(0.4, 0.6, color="C7", alpha=0.15, label="report: recognizable at 40-60 %")
        for name, c in scores.items():
            ax.plot(np_(c.fraction), np_(getattr(c, key)), color=colors.get(name), label=names.get(name, name))
        for name, c in (controls or {}).items():
            ax.plot(np_(c.fraction), np_(getattr(c, key)), color=colors.get(name), ls="--", lw=1.2,
                    label=f"real digits, same noise ({'linear denoiser' if name == 'x_t_read' else 'raw'})")
        ax.axhline(chance, color="k", ls=":", lw=1, label="chance (10 %)")
        ax.set(xlabel="fraction of the reverse process completed", ylim=(-0.02, 1.02),
               ylabel="accuracy" if key == "accuracy" else "mean probability of the requested digit",
               title=f"{title}: {key}")
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def plot_per_digit(curves, title: str = ""):
    """Accuracy per requested digit against the fraction completed, with the 50 % and 90 % levels."""
    fig, (ax,) = new_figure(6, 3.8)
    for d in range(10):
        ax.plot(np_(curves.fraction), np_(curves.per_digit[:, d]), color=f"C{d}", lw=1, label=str(d))
    for lv in (0.5, 0.9):
        ax.axhline(lv, color="k", ls="--", lw=0.8)
    ax.set(xlabel="fraction of the reverse process completed", ylabel="accuracy", title=title)
    ax.legend(ncols=2, fontsize=7, title="digit", loc="upper left")
    return fig


def _step_at(traj, fraction: float):
    """(x_t, x0_hat, k, t) at the step nearest a fraction of the trajectory; at the end (k = S) the
    finished x_0 stands in for x0_hat (there is no further prediction) and t = -1."""
    S = len(traj.timesteps)
    k = min(S, round(float(fraction) * S))
    return traj.x_t[k], (traj.x0[k] if k < S else traj.x_t[S]), k, (int(traj.timesteps[k]) if k < S else -1)


def side_by_side(x_t: torch.Tensor, x0: torch.Tensor, nrow: int = 10, gap: int = 6) -> torch.Tensor:
    """One 2-D image: the grid of x_t (N, 1, H, W) beside the grid of x0_hat, both in [-1, 1]."""
    a, b = image_grid(unnormalize_to_zero_to_one(x_t), nrow), image_grid(unnormalize_to_zero_to_one(x0), nrow)
    return torch.cat([a, torch.ones(a.shape[0], gap), b], 1)


def trajectory_pairs(traj, fractions, n: int = 20, nrow: int = 10):
    """Frames for a scrubber: side-by-side grids (x_t | x0_hat) of the first n images at the steps
    nearest each fraction. Returns (frames: 2-D images in [0, 1], titles, steps)."""
    frames, titles, steps = [], [], []
    S = len(traj.timesteps)
    for f in fractions:
        x_t, x0, k, t = _step_at(traj, f)
        frames.append(side_by_side(x_t[:n], x0[:n], nrow))
        titles.append(f"{k / S:.0%} done (step {k} of {S}, t = {t}):   x_t   |   predicted x0")
        steps.append(k)
    return frames, titles, steps


def pair_figure(traj, step: int, n: int = 30, nrow: int = 10):
    """One frame of the trajectory at sampler step 0..S: the grid of x_t beside that of x0_hat."""
    S = len(traj.timesteps)
    if not 0 <= int(step) <= S:
        raise ValueError(f"step must lie in 0..{S}, got {step}")
    (frame,), (title,), _ = trajectory_pairs(traj, [int(step) / S], n, nrow)
    fig, (ax,) = new_figure(9, 9 * frame.shape[0] / frame.shape[1] + 0.5)
    ax.imshow(np_(frame), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return fig


def plot_strip(traj, fractions, rows: int = 3):
    """Static snapshots, one column per fraction: `rows` images of x_t above the same images' x0_hat."""
    S = len(traj.timesteps)
    snaps = [_step_at(traj, f) for f in fractions]
    x = torch.stack([torch.stack([s[j][i] for s in snaps]) for j in (0, 1) for i in range(rows)])
    fig, (ax,) = new_figure(0.55 * len(snaps) + 1.2, 0.55 * 2 * rows + 0.7)
    show_grid(unnormalize_to_zero_to_one(x.flatten(0, 1)), nrow=len(snaps), ax=ax,
              col_labels=[f"{s[2] / S:.0%}" for s in snaps],
              row_labels=[f"x_t #{i}" for i in range(rows)] + [f"x0_hat #{i}" for i in range(rows)])
    ax.set_xlabel("fraction of the reverse process completed")
    return fig


def plot_spectra(spectra: dict, final: torch.Tensor, noise_level: float, title: str = ""):
    """Radial power spectra {label: (H // 2 + 1,)} on a log scale, with the finished images' one
    (final) and the flat level of unit Gaussian noise (noise_level)."""
    import matplotlib
    fig, (ax,) = new_figure(6, 3.8)
    cmap = matplotlib.colormaps["viridis"]
    for i, (label, p) in enumerate(spectra.items()):
        ax.plot(np_(p), color=cmap(i / max(1, len(spectra) - 1)), label=label)
    ax.plot(np_(final), "k--", lw=1.5, label="finished x_0")
    ax.axhline(noise_level, color="r", ls=":", lw=1, label="N(0, 1) noise")
    ax.set(yscale="log", xlabel="spatial frequency (cycles per image)", ylabel="power", title=title)
    ax.legend(fontsize=7, ncols=2)
    return fig


def plot_spectral_error(errors: dict, settle: dict, level: float):
    """One heat map per {name: (fraction (K,), relative error (K, F))}: log10 error per frequency
    (rows) along the process (columns); last panel: the fraction at which each frequency settles
    below level (settle: {name: list of F fractions})."""
    fig, axes = new_figure(4.6 * (len(errors) + 1), 3.6, ncols=len(errors) + 1)
    for ax, (name, (fraction, e)) in zip(axes, errors.items()):
        f = torch.as_tensor(fraction, dtype=torch.float64)
        im = ax.imshow(np_(e.T.log10().clamp(-3, 2)), aspect="auto", origin="lower", cmap="magma",
                       extent=(f[0].item(), f[-1].item(), -0.5, e.shape[1] - 0.5))
        ax.grid(False)
        ax.set(xlabel="fraction completed", ylabel="frequency (cycles / image)",
               title=f"{name}: log10 relative error")
        fig.colorbar(im, ax=ax)
    for name, s in settle.items():
        axes[-1].plot(s, range(len(s)), marker="o", ms=3, label=name)
    axes[-1].set(xlabel=f"fraction completed when the error stays < {level:g}", ylabel="frequency (cycles / image)",
                 xlim=(0, 1.02), title="which frequencies settle first")
    axes[-1].legend(fontsize=8)
    return fig


def plot_sweep(rows: list, x: str, kid_real: "float | None" = None, logx: bool = False, group: str = "sampler",
               kid_min_n: int = 0):
    """Accuracy, kernel distance (KID; only points with n >= kid_min_n) and images/s (x = "steps")
    or diversity (otherwise) against setting x, one line per group."""
    third = "images_per_s" if x == "steps" else "diversity"
    fig, axes = new_figure(14, 3.6, ncols=3)
    for g in sorted({r[group] for r in rows}, key=str):
        rs = sorted([r for r in rows if r[group] == g], key=lambda r: r[x])
        for ax, key in zip(axes, ("accuracy", "kid", third)):
            pts = [r for r in rs if key != "kid" or r["n"] >= kid_min_n]
            ax.plot([r[x] for r in pts], [r[key] for r in pts], marker="o", label=str(g))
    axes[0].axhline(0.98, color="k", ls="--", lw=0.8, label="98 %")
    if kid_real is not None:
        axes[1].axhline(kid_real, color="k", ls=":", lw=1, label="real vs real")
    if third == "diversity" and rows:
        axes[2].axhline(rows[0]["diversity_real"], color="k", ls=":", lw=1, label="real digits")
    names = {"accuracy": "accuracy on the requested digit",
             "kid": "kernel distance (KID, lower is better)" + (f", n >= {kid_min_n}" if kid_min_n else ""),
             "images_per_s": "images per second (this CPU)", "diversity": "diversity (mean feature distance)"}
    for ax, key in zip(axes, ("accuracy", "kid", third)):
        ax.set(xlabel=x, ylabel=key, title=names[key])
        if logx:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    axes[1].set_yscale("symlog", linthresh=1e-2)
    if third == "images_per_s":
        axes[2].set_yscale("log")
    return fig


# CLIP as a judge ------------------------------------------------------------------------------

def plot_clip_per_digit(own, other, zero_shot, classifier):
    """Left: the mean CLIP score of each digit against its own prompt (bars) and against the other
    nine digits' prompts (dots); right: per-digit accuracy of CLIP zero-shot and of the classifier.
    Each argument: 10 values, one per digit."""
    fig, (a1, a2) = new_figure(10, 3.2, ncols=2)
    digits = torch.arange(10)
    a1.bar(np_(digits), np_(torch.as_tensor(own)), color="tab:blue", label="own prompt")
    a1.plot(np_(digits), np_(torch.as_tensor(other)), "o", color="tab:red", label="other digits' prompts")
    a1.set(xticks=range(10), xlabel="requested digit", ylabel="CLIP score (100 x cos)", title="CLIP score per digit")
    a1.legend(loc="center right", framealpha=0.9)
    a2.bar(np_(digits - 0.2), list(zero_shot), 0.4, label="CLIP zero-shot")
    a2.bar(np_(digits + 0.2), list(classifier), 0.4, label="classifier")
    a2.set(xticks=range(10), ylim=(min(0.5, *zero_shot, *classifier) - 0.05, 1.02),
           xlabel="requested digit", ylabel="accuracy", title="zero-shot vs classifier accuracy")
    a2.legend(loc="lower right")
    return fig


def plot_disputed(x01: torch.Tensor, asked, pred_a, pred_b, names=("CLIP", "clf"), ncol: int = 10):
    """The images (N, 1, H, W) in [0, 1] two judges read differently, each titled with the requested
    digit and the two readings (asked, pred_a, pred_b: (N,)). None when there is no image."""
    if len(x01) == 0:
        return None
    ncol = min(ncol, len(x01))
    nrow = -(-len(x01) // ncol)
    fig, axes = new_figure(1.25 * ncol, 1.45 * nrow, ncols=ncol, nrows=nrow)
    for ax in axes:
        ax.axis("off")
    for ax, img, y, a, b in zip(axes, x01, asked, pred_a, pred_b):
        ax.imshow(np_(img[0]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"asked {int(y)}\n{names[0]} {int(a)} · {names[1]} {int(b)}", fontsize=8)
    return fig


def methods_by_digit(methods: dict, digits, k: int, title: str):
    """One row per (digit, method): the first k images of each digit from {method: images (N, 1, H, W)
    in [0, 1], grouped by digit in the order of digits}. Returns the axis (its .figure to show)."""
    names = list(methods)
    rows = torch.stack([methods[m].view(len(digits), -1, *methods[m].shape[1:])[:, :k] for m in names], 1)
    return grid_figure(rows.flatten(0, 2), nrow=k, title=title,
                       row_labels=[f"{d}: {m.split(' ')[0]}" for d in digits for m in names])


# applications ---------------------------------------------------------------------------------

def plot_walks(walks: dict, ws, norm: dict, ink: dict, digit: int):
    """Noise interpolations: the first path of each {name: images (P * K, 1, H, W) in [0, 1]} as a
    row (K points w = ws), then the mean over the P paths of each {name: (P, K)} norm and ink."""
    k = len(ws)
    fig, axes = new_figure(12, 3.6, ncols=3, width_ratios=[2.2, 1, 1])
    show_grid(torch.cat([x[:k] for x in walks.values()]), nrow=k, ax=axes[0],
              row_labels=[n.replace("straight line", "line") for n in walks], col_labels=[f"{w:.1f}" for w in ws],
              title=f"one noise pair, digit {digit}: columns = w")
    plot_curves({n: (ws, v.mean(0).tolist()) for n, v in norm.items()}, "w", "|x_T| / 28", ax=axes[1], marker="o",
                title="norm of the starting noise")
    plot_curves({n: (ws, v.mean(0).tolist()) for n, v in ink.items()}, "w", "mean pixel value", ax=axes[2],
                marker="o", title=f"ink (mean of {len(next(iter(ink.values())))} paths)")
    return fig


def plot_hybrids(rows: list, p_a: list, p_b: list, pairs, ws, n_noise: int):
    """Hybrid digits: one row of images (K, 1, H, W) in [0, 1] per pair (a, b) of digits, mixed
    with weights ws; right, the classifier's mean probability of a (solid) and b (dashed) at each w."""
    fig, axes = new_figure(12, 0.62 * len(pairs) + 1.2, ncols=2, width_ratios=[1.7, 1])
    show_grid(torch.cat(rows), nrow=len(ws), ax=axes[0], row_labels=[f"{a} -> {b}" for a, b in pairs],
              col_labels=[f"{w:.1f}" for w in ws], title="(1 - w) emb(a) + w emb(b), same noise in each row")
    for k, (a, b) in enumerate(pairs):
        axes[1].plot(ws, np_(p_a[k]), color=f"C{k}", label=f"P({a})")
        axes[1].plot(ws, np_(p_b[k]), color=f"C{k}", ls="--", label=f"P({b})")
    axes[1].set(xlabel="w", ylabel="classifier probability", title=f"a (solid) vs b (dashed), {n_noise} noises")
    axes[1].legend(fontsize=7, ncols=2)
    return fig


def plot_augmentation(aug: dict, n_generated: int):
    """Test accuracy (mean ± sd over seeds) against real images per digit, with and without the
    generated digits, and the level of a classifier trained on generated digits only
    (augmentation_experiment's result)."""
    fig, (ax,) = new_figure(6, 3.6)
    for key, name in (("real", "real only"), ("real+gen", f"real + {n_generated} generated per digit")):
        m = [mean_spread(v) for v in aug[key]]
        ax.errorbar(aug["per_class"], [a for a, _ in m], yerr=[s for _, s in m], marker="o", capsize=3, label=name)
    gen = mean_spread(aug["gen only"])[0]
    ax.axhline(gen, color="k", ls=":", lw=1, label=f"generated only ({gen:.1%})")
    ax.set(xscale="log", xlabel="real training images per digit", ylabel="test accuracy",
           title=f"mean ± std over {len(aug['gen only'])} seeds")
    ax.legend(fontsize=8)
    return fig


def inpainting_examples(x0: torch.Tensor, examples: dict, n: int = 8):
    """One panel per mask, {kind: (mask, {name: completion})}, images in [-1, 1]: the original, the
    visible part (hidden pixels grey) and each completion, n digits per row."""
    fig, axes = new_figure(5 * len(examples), 3.4, ncols=len(examples))
    x01 = unnormalize_to_zero_to_one(x0[:n])
    for ax, (kind, (mask, fills)) in zip(axes, examples.items()):
        shown = x01 * mask[:n] + 0.5 * (1 - mask[:n])
        rows = [x01, shown] + [unnormalize_to_zero_to_one(x[:n]) for x in fills.values()]
        show_grid(torch.cat(rows), nrow=n, ax=ax, row_labels=["original", "visible", *fills], title=f"mask: {kind}")
    return fig


def plot_restoration(curve: dict, baseline: tuple, t_match: int, baseline_name: str = "3x3 mean filter"):
    """PSNR and classifier accuracy of SDEdit against its starting timestep (restoration_curve's
    result; its first entry is the degraded input), with the baseline's (psnr, accuracy) and the
    noise-matching timestep."""
    fig, axes = new_figure(11, 3.4, ncols=2)
    for ax, key, base, name in ((axes[0], "psnr", baseline[0], "PSNR (dB)"),
                                (axes[1], "accuracy", baseline[1], "classifier accuracy")):
        ax.plot(curve["t"][1:], curve[key][1:], marker="o", label="SDEdit from t")
        ax.axhline(curve[key][0], color="C3", ls="--", lw=1, label="noisy input")
        ax.axhline(base, color="C2", ls=":", lw=1.2, label=baseline_name)
        ax.axvline(t_match, color="k", lw=0.8, label=f"noise levels match (t = {t_match})")
        ax.set(xlabel="SDEdit starting timestep t", ylabel=name)
    axes[0].legend(fontsize=8)
    return fig


# the improvements -----------------------------------------------------------------------------

def plot_guidance_tradeoff(rows: list, fd_real: float, fd_spread: float, n: int):
    """Left: accuracy against the Fréchet distance for every sweep row ("guidance", optional
    "guidance_interval", "accuracy", "fd", "images", "name"), every-step scales joined by a line,
    the real-vs-real band (± 2 sd) shaded. Right: the first ten images of each row (same noise)."""
    plain = [r for r in rows if r.get("guidance_interval") is None]
    windowed = [r for r in rows if r.get("guidance_interval") is not None]
    fig, (ax, ax_g) = new_figure(13, 4.6, ncols=2, width_ratios=[1, 1.25])
    ax.axvspan(fd_real - 2 * fd_spread, fd_real + 2 * fd_spread, color="0.88", label="two real sets (± 2 sd)")
    ax.plot([r["fd"] for r in plain], [r["accuracy"] for r in plain], "o-", label="guided at every step")
    ax.plot([r["fd"] for r in windowed], [r["accuracy"] for r in windowed], "s", ms=8, label="guided in a window")
    for r in rows:
        w = r.get("guidance_interval")
        ax.annotate(f"{r['guidance']:g}" if w is None else f"[{w[0]}, {w[1]}]", (r["fd"], r["accuracy"]),
                    textcoords="offset points", xytext=(5, -11), fontsize=8)
    ax.set(xlabel=f"Fréchet distance to real test digits (n = {n}; lower is better)",
           ylabel="accuracy on the requested digit", title="fidelity against distance, per setting")
    ax.legend(fontsize=8, loc="lower right")
    show_grid(torch.cat([r["images"][:10] for r in rows]), nrow=10, ax=ax_g, title="same noise, each setting",
              row_labels=[r["name"] for r in rows], col_labels=[str(d) for d in range(10)])
    return fig


def plot_equal_time(curves: dict, images: dict):
    """Left: validation loss against training seconds, {name: (seconds, losses)}; right: ten
    samples of each {name: images (N, 1, H, W) in [0, 1]}, one row per name."""
    fig, (a0, a1) = new_figure(12, 3.4, ncols=2, width_ratios=[1, 1.6])
    plot_curves(curves, "training time (s, from the measured step time)", "validation loss (raw weights)", ax=a0,
                marker="o", logy=True, title="what each variant's steps cost in time")
    show_grid(torch.cat([x[:10] for x in images.values()]), nrow=10, ax=a1, row_labels=list(images),
              col_labels=[str(d) for d in range(10)], title="samples (EMA weights)")
    return fig


def plot_grid_panels(panels: dict, nrow: int, row_labels=None, col_labels=None, ncols: int = 1):
    """One image grid per {title: images (N, C, H, W) in [0, 1]}, laid out in ncols columns."""
    k = len(panels)
    rows = math.ceil(k / ncols)
    first = next(iter(panels.values()))
    h = 0.55 * math.ceil(len(first) / nrow) + 0.8
    fig, axes = new_figure(6 * ncols if ncols > 1 else 0.55 * nrow + 1.5, h * rows, ncols=ncols, nrows=rows)
    for ax, (title, x) in zip(axes, panels.items()):
        show_grid(x, nrow=nrow, ax=ax, title=title, row_labels=row_labels, col_labels=col_labels)
    return fig
