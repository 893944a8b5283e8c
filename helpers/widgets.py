"""Sliders and players: ipywidgets that re-render a figure on a running kernel, and a kernel-free
JavaScript player for exported pages.

    forward_slider(x0, schedule)              # drag t, see x_t, its histogram, alpha_bar, SNR
    animation_scrubber(frames, titles)        # keeps working in exported HTML and on GitHub
    guidance_slider(pipe); hybrid_picker(pipe); prompt_box(pipe, clip, prototypes)

Every call builds fresh widgets, so re-running a cell gives a working slider again (the old one
simply stops updating). The animation scrubber embeds every frame as a PNG with its own play /
step / scrub controls.
"""
import re

import torch

from .applications import sample_mixed, mix_weights, text_to_digits, unknown_words
from .plots import figure_png, forward_figure, grid_png, image_grid, new_figure, np_, snr_db


# sliders (they need a running kernel) ------------------------------------------------------

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


def guidance_slider(pipe, per_digit: int = 2, steps: int = 25, seed: int = 0, max_scale: float = 8.0):
    """A slider over the classifier-free guidance scale; the same noise for every digit at each scale."""
    import ipywidgets as W
    y = torch.arange(10).repeat(per_digit)
    x_T = pipe.noise(len(y), torch.Generator().manual_seed(seed))
    w = W.FloatSlider(value=1.0, min=0, max=max_scale, step=0.25, description="guidance",
                      continuous_update=False)
    image = W.Image(format="png")

    def render(change=None):
        x = pipe.sample(y, steps=steps, guidance=w.value, x_T=x_T)
        image.value = grid_png(x, 10, f"guidance scale {w.value:g}", col_labels=[str(d) for d in range(10)])

    w.observe(render, names="value")
    render()
    return W.VBox([w, image])


def hybrid_picker(pipe, n: int = 6, steps: int = 25, seed: int = 0):
    """Two digit pickers and a mix slider: n samples conditioned on (1 - w) emb(a) + w emb(b), same noise."""
    import ipywidgets as W
    a = W.Dropdown(options=list(range(10)), value=3, description="digit a")
    b = W.Dropdown(options=list(range(10)), value=8, description="digit b")
    w = W.FloatSlider(value=0.5, min=0, max=1, step=0.05, description="mix w", continuous_update=False)
    image = W.Image(format="png")
    x_T = pipe.noise(n, torch.Generator().manual_seed(seed))

    def render(change=None):
        x = sample_mixed(pipe, mix_weights(a.value, b.value, [w.value] * n), x_T, steps)
        image.value = grid_png(x, n, f"{1 - w.value:.2f} x '{a.value}' + {w.value:.2f} x '{b.value}'")

    for widget in (a, b, w):
        widget.observe(render, names="value")
    render()
    return W.VBox([W.HBox([a, b]), w, image])


def prompt_box(pipe, clip, prototypes: torch.Tensor, steps: int = 25, clip_scale: float = 0.0, seed: int = 0,
               value: str = "a handwritten 4"):
    """A text box (press Enter) and a count slider: CLIP reads the digit, the model draws it."""
    import ipywidgets as W
    text = W.Text(value=value, description="prompt", continuous_update=False, layout=W.Layout(width="60%"))
    count = W.IntSlider(value=4, min=1, max=10, description="how many", continuous_update=False)
    readout = W.HTML()
    image = W.Image(format="png")

    def render(change=None):
        x, digit, probs = text_to_digits(pipe, clip, text.value, prototypes, count.value, steps, clip_scale, seed)
        unk = unknown_words(clip, text.value)
        readout.value = (f"CLIP reads <b>{digit}</b> (p = {probs[digit]:.2f})"
                         + (f"; words it does not know: <i>{', '.join(unk)}</i>" if unk else ""))
        image.value = grid_png(x, count.value, f"{text.value!r} -> {digit}")

    text.observe(render, names="value")
    count.observe(render, names="value")
    render()
    return W.VBox([text, count, readout, image])


# the kernel-free scrubber ------------------------------------------------------------------

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
