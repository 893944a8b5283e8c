"""Reading the reverse process (notebook 04): when do digits become recognizable, which spatial
frequencies settle first, and what do fewer steps or more guidance cost?

    reader = LinearDenoiser(x_train, schedule)             # best linear guess of x0 from x_t (Wiener)
    scores = score_trajectory(traj, labels, classifier, reader=reader)   # {"x_t", "x0", "x_t_read"}: Curves
    crossing_point(scores["x_t"].fraction, scores["x_t"].accuracy, 0.5)
    radial_power_spectrum(x)                               # (..., H, W) -> (..., H // 2 + 1)
    rows = sweep(pipe, [{"sampler": "ddim", "steps": s} for s in (1, 10, 50)], n=200)

"Fraction of the reverse process completed" is k / S after k of S sampler steps. The samplers
space their timesteps evenly ("trailing"), so it is also 1 - (t + 1) / T. The model's prediction
x0_hat made at step k is a function of x_t after k steps and sits at the same fraction k / S.
Quality numbers come from helpers.evaluate (conditional accuracy, kernel and Fréchet distances,
diversity) and are not recomputed here. Images are (N, 1, 28, 28); x_t and x0_hat in [-1, 1]
(x_T unbounded) are clamped to [0, 1] before the classifier sees them.
"""
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .classifier import predict
from .evaluate import accuracy_report, evaluate_samples
from .notebook import image_grid, show_grid
from .plots import new_figure, np_
from .samplers import check_interval, make_sampler, network_calls
from .utils import unnormalize_to_zero_to_one

# scoring a trajectory -------------------------------------------------------------------------

@dataclass
class Curves:
    """Classifier scores of one image sequence along the reverse process (K scored steps)."""
    fraction: torch.Tensor          # (K,) fraction of the reverse process completed, 0 .. 1
    t: torch.Tensor                 # (K,) timestep of the scored image (-1: the finished x_0)
    accuracy: torch.Tensor          # (K,) fraction classified as the requested digit
    confidence: torch.Tensor        # (K,) mean probability of the requested digit
    per_digit: torch.Tensor         # (K, 10) accuracy per requested digit


def score_sequence(images: list, labels: torch.Tensor, classifier, steps: list, fraction, t,
                   reader=None, chunk: int = 20000, progress: bool = False) -> Curves:
    """Score images[k] (each (N, 1, 28, 28) in [-1, 1], clamped) for k in steps, labels (N,).
    t: the timestep of each scored image; reader(x, t), if given, transforms each image first."""
    labels = torch.as_tensor(labels).long()
    t = torch.as_tensor(t)
    rows, batch = [], []
    n_img = len(labels)

    def flush():
        if batch:
            probs, _ = predict(classifier, unnormalize_to_zero_to_one(torch.cat(batch)))
            rows.extend(accuracy_report(p, labels) for p in probs.split(n_img))
            batch.clear()

    for k, t_k in tqdm(list(zip(steps, t.tolist())), desc="scoring", disable=not progress, leave=False):
        if images[k].shape[0] != n_img:
            raise ValueError(f"step {k} holds {images[k].shape[0]} images for {n_img} labels")
        batch.append(images[k] if reader is None else reader(images[k], t_k))
        if len(batch) * n_img >= chunk:
            flush()
    flush()
    return Curves(torch.as_tensor(fraction, dtype=torch.float64), t,
                  torch.tensor([r["accuracy"] for r in rows]), torch.tensor([r["confidence"] for r in rows]),
                  torch.tensor([r["per_digit"] for r in rows]))


def score_trajectory(traj, labels, classifier, every: int = 1, reader=None, progress: bool = False) -> dict:
    """Accuracy and confidence of x_t and of the predicted x0 along a samplers.Trajectory.

    traj: S steps (x_t: S + 1 tensors (N, 1, 28, 28), x0: S tensors); labels (N,) the requested
    digits. every: score every k-th step (the first and last are always scored).
    Returns {"x_t": Curves (x_T ... x_0), "x0": Curves (x0_hat at steps 0 .. S-1)}, and with a
    reader (e.g. a LinearDenoiser) also "x_t_read": x_t passed through reader(x_t, t) first.
    """
    if int(every) < 1:
        raise ValueError(f"every must be a positive step interval, got {every}")
    S = len(traj.timesteps)
    if len(traj.x_t) != S + 1 or len(traj.x0) != S:
        raise ValueError(f"a trajectory of {S} steps needs {S + 1} x_t and {S} x0 tensors, "
                         f"got {len(traj.x_t)} and {len(traj.x0)}")
    ts = torch.cat([traj.timesteps.long(), torch.tensor([-1])])
    jobs = [("x_t", traj.x_t, S + 1, None), ("x0", traj.x0, S, None)]
    if reader is not None:
        jobs.append(("x_t_read", traj.x_t, S + 1, reader))
    out = {}
    for name, seq, n, rd in jobs:
        keep = sorted(set(range(0, n, int(every))) | {n - 1})
        out[name] = score_sequence(seq, labels, classifier, keep, [k / S for k in keep], ts[keep],
                                   reader=rd, progress=progress)
    return out


def noised_real_curves(x0: torch.Tensor, labels, schedule, like: Curves, classifier, seed: int = 0,
                       reader=None) -> Curves:
    """The control for x_t: real digits x0 (N, 1, 28, 28) in [-1, 1] noised by the forward process
    (one noise draw) to the timesteps of `like` (t = -1: left clean), scored the same way (through
    reader(x, t) if given). Their accuracy is what the noise level alone lets the reader see."""
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    images = [x0 if int(t) < 0 else schedule.add_noise(x0, noise, torch.full((len(x0),), int(t))) for t in like.t]
    return score_sequence(images, labels, classifier, list(range(len(images))), like.fraction, like.t, reader)


class LinearDenoiser:
    """The best linear guess of x0 from x_t: the posterior mean E[x0 | x_t] if digits were Gaussian,
    N(mu, C) with the mean and covariance of real digits (a Wiener filter; it knows the noise
    level but nothing about any particular digit or label):

        x0_lin = mu + sqrt(ab) C (ab C + (1 - ab) I)^-1 (x_t - sqrt(ab) mu),   ab = alpha_bar_t

    diagonal in C's eigenbasis, where component i is kept in proportion to its signal share
    sqrt(ab) lambda_i / (ab lambda_i + 1 - ab). Call it as denoiser(x_t, t) (t = -1: unchanged).
    x0: real digits (N, C, H, W) in [-1, 1] to estimate mu and C from (N well above C H W).
    """

    def __init__(self, x0: torch.Tensor, schedule):
        X = x0.flatten(1).double()
        if X.shape[0] < 2:
            raise ValueError(f"LinearDenoiser needs at least 2 images, got {tuple(x0.shape)}")
        self.schedule, self.shape = schedule, x0.shape[1:]
        self.mu = X.mean(0)                                               # (D,)
        lam, self.V = torch.linalg.eigh(torch.cov(X.T))                   # (D,), (D, D)
        self.lam = lam.clamp(min=0)

    def __call__(self, x_t: torch.Tensor, t: int) -> torch.Tensor:
        if x_t.shape[1:] != self.shape:
            raise ValueError(f"images must be (N, {', '.join(map(str, self.shape))}), got {tuple(x_t.shape)}")
        if int(t) < 0:
            return x_t
        ab = self.schedule.alpha_bar[int(t)].double()
        gain = ab.sqrt() * self.lam / (ab * self.lam + 1 - ab)            # (D,)
        z = (x_t.flatten(1).double() - ab.sqrt() * self.mu) @ self.V
        return (self.mu + (z * gain) @ self.V.T).to(x_t.dtype).view_as(x_t)


# when does a curve cross a level? -------------------------------------------------------------

def crossing_point(fraction, values, level: float, sustained: bool = True, rising: bool = True) -> float:
    """Where values (K,) over fraction (K,) (increasing) rise through level, linearly interpolated.

    sustained=True: the last upward crossing, after which values never fall below level again
    (robust to a noisy curve that touches the level early); False: the first point that reaches it.
    A curve that starts at or above level crosses at fraction[0]; one that ends below never does
    (NaN). rising=False looks for values falling through level instead.
    """
    f = torch.as_tensor(fraction, dtype=torch.float64)
    v = torch.as_tensor(values, dtype=torch.float64)
    if f.dim() != 1 or v.shape != f.shape or len(f) == 0:
        raise ValueError(f"fraction and values must be 1-D of one non-zero length, got "
                         f"{tuple(f.shape)} and {tuple(v.shape)}")
    if torch.isnan(v).any() or (len(f) > 1 and (f.diff() <= 0).any()):
        raise ValueError("values must not be NaN and fraction must be strictly increasing")
    if not rising:
        v, level = -v, -level
    above = v >= level
    if sustained:
        if not above[-1]:
            return float("nan")
        below = (~above).nonzero()
        i = int(below[-1]) + 1 if len(below) else 0
    else:
        hits = above.nonzero()
        if not len(hits):
            return float("nan")
        i = int(hits[0])
    if i == 0:
        return f[0].item()
    w = (level - v[i - 1]) / (v[i] - v[i - 1])
    return (f[i - 1] + w * (f[i] - f[i - 1])).item()


def crossing_table(curves: Curves, levels=(0.5, 0.9), sustained: bool = True) -> dict:
    """{level: [crossing of digit 0, ..., digit 9, all digits]} of a Curves' accuracy."""
    return {lv: [crossing_point(curves.fraction, curves.per_digit[:, d], lv, sustained) for d in range(10)]
            + [crossing_point(curves.fraction, curves.accuracy, lv, sustained)] for lv in levels}


# coarse to fine: spatial frequencies ----------------------------------------------------------

def radial_bins(size: int) -> torch.Tensor:
    """(size, size) integer radius round(|k|) of each 2-D FFT frequency, in cycles per image."""
    k = torch.fft.fftfreq(size, d=1 / size)
    return torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2).round().long()


def radial_power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Radially averaged power spectrum of square images x (..., H, H) -> (..., H // 2 + 1).

    Bin r holds the mean of |FFT(x)|^2 / H^4 over the frequencies with round(|k|) = r cycles per
    image (the corners beyond r = H / 2 are dropped): a constant image c has c^2 in bin 0 and
    nothing elsewhere; a sinusoid with k cycles along one axis peaks in bin k.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] < 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"radial_power_spectrum needs square images (..., H, H) with H >= 2, got {shape}")
    H = x.shape[-1]
    power = torch.fft.fft2(x.double()).abs().pow(2).flatten(-2) / H ** 4          # (..., H * H)
    r = radial_bins(H).flatten()
    onehot = torch.nn.functional.one_hot(r.clamp(max=H // 2 + 1), H // 2 + 2)[:, : H // 2 + 1].double()
    return power @ onehot / onehot.sum(0)


def spectral_error(seq: torch.Tensor, final: torch.Tensor) -> torch.Tensor:
    """Relative error per frequency of each image of seq (K, N, C, H, W) against final (N, C, H, W):
    P[seq_k - final](r) / P[final](r), powers averaged over the N C images. Returns (K, H // 2 + 1)."""
    if seq.dim() != 5 or seq.shape[1:] != final.shape:
        raise ValueError(f"seq must be (K, N, C, H, W) with final (N, C, H, W), got "
                         f"{tuple(seq.shape)} and {tuple(final.shape)}")
    ref = radial_power_spectrum(final).mean(dim=(0, 1))
    err = torch.stack([radial_power_spectrum(s - final).mean(dim=(0, 1)) for s in seq])
    return err / ref.clamp(min=1e-12)


def settling_fractions(fraction, rel_err: torch.Tensor, level: float = 0.1) -> list:
    """Per frequency r, the fraction completed after which rel_err[:, r] stays below level."""
    return [crossing_point(fraction, rel_err[:, r], level, rising=False) for r in range(rel_err.shape[1])]


# quality and speed of sampling settings -------------------------------------------------------

def score_setting(images: torch.Tensor, labels, setting: dict, seconds: float, classifier=None,
                  keep: int = 20) -> dict:
    """One sweep row for images (N, 1, 28, 28) in [0, 1] made in `seconds` with `setting`:
    the setting, "n", "seconds", "images_per_s", helpers.evaluate.evaluate_samples' accuracy,
    per_digit, confidence, kid, fd and fd_real, diversity and diversity_real (means over digits),
    and "images": the first `keep` samples."""
    ev = evaluate_samples(images, labels, classifier)
    return {**setting, "n": len(images), "seconds": seconds, "images_per_s": len(images) / seconds,
            **{k: ev[k] for k in ("accuracy", "per_digit", "confidence", "kid", "fd", "fd_real")},
            "diversity": _nanmean(ev["diversity"]), "diversity_real": _nanmean(ev["diversity_real"]),
            "images": images[:keep]}


def sweep(pipe, settings: list, n: int, seed: int = 0, max_calls: "int | None" = None, keep: int = 20,
          classifier=None, progress: bool = True) -> list:
    """Sample and score each setting (a dict of Pipeline.sample keywords: sampler, steps, guidance).

    n images per point, each digit n / 10 times (labels 0, 1, ..., 9, 0, 1, ...), from the same
    seed. max_calls caps the U-Net evaluations per point: n shrinks (to a multiple of 10, >= 10)
    for long samplers. Returns one score_setting row per setting (guidance filled in).
    """
    if n < 10 or n % 10:
        raise ValueError(f"n must be a positive multiple of 10 (every digit equally often), got {n}")
    rows = []
    for s in tqdm(settings, desc="sweep", disable=not progress):
        s = dict(s)
        s["guidance"] = pipe.guidance if s.get("guidance") is None else float(s["guidance"])
        timesteps = make_sampler(s.get("sampler", "ddim"), pipe.schedule, s.get("steps", 50)).timesteps
        calls = network_calls(timesteps, s["guidance"], check_interval(s.get("guidance_interval"), pipe.schedule.T))
        n_pt = n if max_calls is None else min(n, max(10, max_calls // calls // 10 * 10))
        labels = torch.arange(10).repeat(n_pt // 10)
        t0 = time.perf_counter()
        images = pipe.sample(labels, **s, generator=torch.Generator().manual_seed(seed))
        rows.append(score_setting(images, labels, s, time.perf_counter() - t0, classifier, keep))
    return rows


def _nanmean(v) -> float:
    v = torch.tensor(v, dtype=torch.float64)
    return v[~v.isnan()].mean().item()


def fewest_steps(rows: list, sampler: str, level: float = 0.98) -> "int | None":
    """The fewest steps of `sampler` among sweep rows whose accuracy is at least level (None: none)."""
    ok = [r["steps"] for r in rows if r["sampler"] == sampler and r["accuracy"] >= level]
    return min(ok) if ok else None


# figures --------------------------------------------------------------------------------------

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


def plot_per_digit(curves: Curves, title: str = ""):
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
