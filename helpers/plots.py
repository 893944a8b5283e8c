"""Figures shared by the notebooks: noise schedules, pixel histograms and two timestep scrubbers.

    forward_slider(x0, schedule)              # ipywidgets: drag t, see x_t, its histogram, alpha_bar, SNR
    animation_scrubber(frames, titles)        # JavaScript animation: keeps working in exported HTML
    animation_scrubber(*trajectory_frames(traj))   # ... e.g. for a reverse trajectory

The slider needs a running kernel; the animation scrubber embeds every frame as a PNG and its own
play / step / scrub controls, so it works in a notebook exported to HTML or viewed on GitHub.
Image tensors are (N, C, H, W) in [0, 1] unless a name says otherwise.
"""
import io
import math
import re

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .notebook import image_grid, show_grid
from .utils import unnormalize_to_zero_to_one

# helpers --------------------------------------------------------------------------------------

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


def grid_figure(x01: torch.Tensor, nrow: int, title=None, row_labels=None, col_labels=None, cell: float = 0.62):
    """show_grid on a pyplot-free figure sized for (N, C, H, W) images in [0, 1]; frameless.
    Returns the axis (its .figure for show_figure)."""
    nr = math.ceil(len(x01) / nrow)
    ax = new_figure(cell * nrow + (1.2 if row_labels else 0.3), cell * nr + 0.8)[1][0]
    show_grid(x01, nrow=nrow, ax=ax, title=title, row_labels=row_labels, col_labels=col_labels)
    ax.images[-1].set_interpolation("nearest")          # true pixels, and PNGs of noise 4x smaller
    ax.spines[:].set_visible(False)
    return ax


def snr_db(schedule, t=None):
    snr = schedule.snr if t is None else schedule.snr[int(t)]
    return 10 * torch.log10(snr)


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


# the forward process --------------------------------------------------------------------------

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


def forward_slider(x0: torch.Tensor, schedule, noise: "torch.Tensor | None" = None, t: int = 0,
                   seed: int = 0, nrow: int = 4):
    """An ipywidgets slider over t = 0..T-1 that re-renders forward_figure into one image widget.

    Every call builds fresh widgets, so re-running the cell gives a working slider again (the old
    one simply stops updating). Returns the widget box; display it (or leave it last in the cell).
    """
    import ipywidgets as W
    noise = noise if noise is not None else torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    slider = W.IntSlider(value=int(t), min=0, max=schedule.T - 1, step=1, description="t",
                         continuous_update=True, layout=W.Layout(width="70%"))
    readout = W.HTML()
    image = W.Image(format="png")

    def render(change=None):
        s = slider.value
        readout.value = (f"<b>t = {s}</b> &nbsp; alpha_bar = {schedule.alpha_bar[s]:.3f} &nbsp; "
                         f"SNR = {schedule.snr[s]:.3g} ({snr_db(schedule, s):.1f} dB)")
        image.value = figure_png(forward_figure(x0, schedule, s, noise, nrow))

    slider.observe(render, names="value")
    render()
    return W.VBox([slider, readout, image])


def plot_schedules(schedules: dict, marks: "dict | None" = None):
    """beta_t, alpha_bar_t and SNR (dB) of each {name: NoiseSchedule}; marks {name: {level: t}}
    (see experiments.destruction_times) draws where alpha_bar first falls below each level."""
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


# the kernel-free scrubber ---------------------------------------------------------------------

def animation_scrubber(frames, titles=None, nrow: int = 8, interval: int = 200, scale: float = 0.45,
                       curve=None, frame_x=None, dpi: int = 72, embed_limit_mb: float = 40):
    """A JavaScript player (matplotlib's FuncAnimation(...).to_jshtml()) over image-grid frames.

    frames: list of (N, C, H, W) batches in [0, 1], or of ready 2-D / (H, W, 3) grid images, all of
    one size. titles: one string per frame. curve = (x, y, ylabel) adds a side plot with a vertical
    line at frame_x[i] for frame i (e.g. alpha_bar over t). Returns an IPython HTML object whose
    slider and buttons run in the browser: it needs no kernel, so exported notebooks keep it.
    """
    import matplotlib as mpl
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation
    if not len(frames):
        raise ValueError("animation_scrubber needs at least one frame")
    grids = [np_(image_grid(f, nrow) if f.dim() == 4 else f) for f in frames]
    if any(g.shape != grids[0].shape for g in grids):
        raise ValueError(f"all frames must give grids of one size, got {sorted({tuple(g.shape) for g in grids})}")
    titles = list(titles) if titles is not None else [f"frame {i}" for i in range(len(grids))]
    if len(titles) != len(grids):
        raise ValueError(f"{len(titles)} titles for {len(grids)} frames")
    if curve is not None and (frame_x is None or len(frame_x) != len(grids)):
        raise ValueError("a curve needs frame_x: one x position per frame")
    h, w = grids[0].shape[:2]
    img_w, img_h = max(2.5, w / 30 * scale), max(1.5, h / 30 * scale)
    fig, axes = new_figure(img_w + (3.2 if curve else 0), img_h + 0.5, ncols=2 if curve else 1,
                           **({"width_ratios": [img_w, 3.2]} if curve else {}))
    fig.set_dpi(dpi)
    im = axes[0].imshow(grids[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_axis_off()
    title = axes[0].set_title(titles[0], fontsize=9)
    line = None
    if curve:
        x, y, ylabel = curve
        axes[1].plot(np_(torch.as_tensor(x)), np_(torch.as_tensor(y)))
        axes[1].set(ylabel=ylabel)
        line = axes[1].axvline(frame_x[0], color="k")

    def update(i):
        im.set_data(grids[i])
        title.set_text(titles[i])
        if line is not None:
            line.set_xdata([frame_x[i], frame_x[i]])
        return [im, title] + ([line] if line is not None else [])

    anim = FuncAnimation(fig, update, frames=len(grids), interval=interval, blit=False)
    with mpl.rc_context({"animation.embed_limit": embed_limit_mb}):
        html = anim.to_jshtml(default_mode="once")
    return HTML(offline_buttons(html))


# matplotlib's player draws its buttons with Font Awesome from a CDN: offline they come out blank.
_GLYPHS = {"fa-minus": "\u2212", "fa-fast-backward": "\u23EE", "fa-step-backward": "\u23F4\u2009|",
           "fa-play fa-flip-horizontal": "\u25C0", "fa-pause": "\u23F8", "fa-play": "\u25B6",
           "fa-step-forward": "|\u2009\u23F5", "fa-fast-forward": "\u23ED", "fa-plus": "+"}


def offline_buttons(html: str) -> str:
    """to_jshtml output with the CDN stylesheet removed and each icon replaced by a Unicode glyph."""
    html = re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", html)
    return re.sub(r'<i class="fa ([^"]+)"></i>', lambda m: _GLYPHS.get(m.group(1), m.group(1)), html)


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


# results of experiments -----------------------------------------------------------------------

def plot_recovery(res: dict, gray_reference: "float | None" = None):
    """MSE to x0, classifier accuracy and mid-grey fraction against t for one network call and the
    reverse process (res from experiments.recovery_experiment)."""
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


# tables ---------------------------------------------------------------------------------------

def markdown_table(headers, rows, fmt: str = "{:.4g}") -> str:
    """A Markdown table; floats are written with fmt, None as an en dash."""
    def cell(v):
        return "–" if v is None else fmt.format(v) if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
