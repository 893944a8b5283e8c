"""What the notebooks measure: the forward process, one network call against the reverse process,
what the network listens to, what the loss means, when digits become recognisable, which
frequencies settle first, and what fewer steps, more guidance or another U-Net cost.

    destruction_times(schedule)                           # at which t is most of the signal gone?
    recovery_experiment(denoiser, x0, y, ts)              # one network call vs the reverse process
    scores = score_trajectory(traj, labels, classifier)   # {"x_t", "x0"}: Curves along the process
    crossing_point(curve.fraction, curve.accuracy, 0.5)   # when does a curve cross a level?
    radial_power_spectrum(x)                              # (..., H, W) -> (..., H // 2 + 1)
    rows = sweep(pipe, [{"sampler": "ddim", "steps": s} for s in (1, 10, 50)], n=200)

Images are (N, C, H, W) in [-1, 1] unless a name says ``01`` ([0, 1]); timesteps are ints in
0..T-1. "Fraction of the reverse process completed" is k / S after k of S sampler steps (the
samplers space their timesteps evenly, so it is also 1 - (t + 1) / T); the prediction x0_hat made
at step k sits at the same fraction. Quality numbers come from helpers.evaluate.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .classifier import predict
from .data import unnormalize_to_zero_to_one
from .evaluate import (accuracy_report, classifier_accuracy, evaluate_samples, mid_gray_fraction, mse, nanmean,
                       paired_noise)
from .samplers import Denoiser, check_interval, make_sampler, network_calls, reverse
from .schedule import NoiseSchedule
from .train import Trainer, TrainConfig
from .unet import count_parameters


# the forward process -----------------------------------------------------------------------

def destruction_times(schedule: NoiseSchedule, levels=(0.5, 0.05)) -> dict:
    """{level: first t with alpha_bar_t < level} (None if never). alpha_bar < 0.5 is SNR < 1:
    from there on the noise carries more variance than the signal."""
    out = {}
    for level in levels:
        below = (schedule.alpha_bar < level).nonzero()
        out[level] = int(below[0]) if len(below) else None
    return out


def forward_sequential(x0: torch.Tensor, schedule: NoiseSchedule, t: int, generator=None) -> torch.Tensor:
    """x_t by t + 1 small steps x_k = sqrt(alpha_k) x_{k-1} + sqrt(beta_k) eps_k (no closed form).

    Its distribution equals add_noise's one-jump x_t; notebook 01 checks that numerically.
    """
    t = int(schedule.check_t(t))
    x = x0.clone()
    for k in range(t + 1):
        eps = torch.randn(x0.shape, generator=generator)
        x = schedule.alphas[k].sqrt() * x + schedule.betas[k].sqrt() * eps
    return x


def noise_residual_std(x_t: torch.Tensor, x0: torch.Tensor, schedule: NoiseSchedule, t: int) -> float:
    """std of (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t): 1.0 when x_t ~ q(x_t | x0)."""
    ab = schedule.alpha_bar[int(t)]
    return ((x_t - ab.sqrt() * x0) / (1 - ab).sqrt()).std().item()


# one network call vs the reverse process ---------------------------------------------------

def snap_to_grid(ts, grid: torch.Tensor) -> list:
    """Each t replaced by the nearest timestep of a sampler's grid (duplicates removed, order kept)."""
    out = []
    for t in ts:
        s = int(grid[(grid - int(t)).abs().argmin()])
        if s not in out:
            out.append(s)
    return out


def one_call(denoiser: Denoiser, x_t: torch.Tensor, t: int, y: torch.Tensor, guidance: float = 1.0) -> torch.Tensor:
    """x0_hat from one network call at timestep t (two passes if guidance is not 0 or 1), clipped
    to [-1, 1] as the samplers do (CPU)."""
    return denoiser(x_t.to(denoiser.device), int(t), y.to(denoiser.device), guidance).x0.clamp(-1, 1).cpu()


@torch.no_grad()
def reverse_from(denoiser: Denoiser, x_t: torch.Tensor, t: int, y: torch.Tensor, steps: int = 50,
                 guidance: float = 1.0) -> torch.Tensor:
    """Deterministic DDIM from x_t at timestep t down to x_0, on the `steps`-step grid over T
    (t must lie on it: see snap_to_grid). Returns x_0 (N, C, H, W) in [-1, 1] on CPU."""
    sampler = make_sampler("ddim", denoiser.schedule, steps)
    hits = (sampler.timesteps == int(t)).nonzero()
    if not len(hits):
        raise ValueError(f"t={t} is not on the {steps}-step DDIM grid {sampler.timesteps.tolist()[:4]}...; "
                         f"use snap_to_grid")
    return reverse(denoiser, sampler, x_t, y, start=int(hits[0]), guidance=guidance).cpu()


def recovery_experiment(denoiser: Denoiser, x0: torch.Tensor, y: torch.Tensor, ts, steps: int = 50,
                        classifier=None, hide_label: bool = False, seed: int = 0, progress: bool = True,
                        guidance: float = 1.0) -> dict:
    """Recover x0 (N, C, H, W) with labels y (N,) from x_t at each t in ts (snapped to the DDIM
    grid) two ways: one network call (one_call) and the many-step reverse process
    (reverse_from), from the same x_t. Both are told the label y, or the null label if hide_label
    (then the classifier's accuracy measures how much of the digit's identity was recovered).
    guidance: the classifier-free guidance scale of both ways (1: the plain conditional model).

    Returns {"t", "alpha_bar", "calls_reverse", "mse_<way>", "acc_<way>" (None without a
    classifier), "gray_<way>"} as lists over t, with <way> in one_shot / reverse, "noise_mse" and
    "noise_gray" (two standard errors of the one-shot minus reverse difference, paired over the
    images: evaluate.paired_noise), and "images": {t: (x_t, one_shot, reverse)} in [0, 1]. mse is
    against the true x0 in [-1, 1].
    """
    schedule = denoiser.schedule
    grid = make_sampler("ddim", schedule, steps).timesteps
    ts = snap_to_grid(ts, grid)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    y_in = torch.full_like(y, denoiser.model.null_label) if hide_label else y
    res = {"t": ts, "alpha_bar": [schedule.alpha_bar[t].item() for t in ts],
           "calls_reverse": [int((grid <= t).sum()) for t in ts], "images": {}}
    for t in tqdm(ts, desc="one-shot vs reverse", disable=not progress):
        x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), t))
        outs = {"one_shot": one_call(denoiser, x_t, t, y_in, guidance),
                "reverse": reverse_from(denoiser, x_t, t, y_in, steps, guidance)}
        per_image = {}                                     # way -> (MSE, mid-grey fraction) per image
        for way, x in outs.items():
            x01 = unnormalize_to_zero_to_one(x)
            res.setdefault(f"mse_{way}", []).append(mse(x, x0))
            res.setdefault(f"gray_{way}", []).append(mid_gray_fraction(x01))
            res.setdefault(f"acc_{way}", []).append(
                None if classifier is None else classifier_accuracy(classifier, x01, y))
            per_image[way] = ((x - x0).pow(2).flatten(1).mean(1), mid_gray_fraction(x01, per_image=True))
        for j, key in enumerate(("noise_mse", "noise_gray")):
            res.setdefault(key, []).append(paired_noise(per_image["one_shot"][j], per_image["reverse"][j]))
        res["images"][t] = tuple(unnormalize_to_zero_to_one(z) for z in (x_t, outs["one_shot"], outs["reverse"]))
    return res


# what the network listens to ---------------------------------------------------------------

@torch.no_grad()
def label_sweep(denoiser: Denoiser, x0: torch.Tensor, t: int, labels=range(10), seed: int = 0,
                steps: "int | None" = None):
    """One x_t per image of x0 (N, C, H, W), denoised under every label: in one call, or with
    steps given by the reverse process (reverse_from: t must lie on the steps-step DDIM grid).

    Returns (x_t (N, C, H, W), x0_hat (N, L, C, H, W)), both in [-1, 1] (x_t unbounded).
    """
    labels = torch.as_tensor(list(labels), dtype=torch.long)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = denoiser.schedule.add_noise(x0, noise, torch.full((len(x0),), int(t)))
    L = len(labels)
    x_rep = x_t.repeat_interleave(L, 0)                          # (N * L, C, H, W)
    y_rep = labels.repeat(len(x0))
    x0_hat = one_call(denoiser, x_rep, int(t), y_rep) if steps is None else \
        reverse_from(denoiser, x_rep, int(t), y_rep, steps)
    return x_t, x0_hat.view(len(x0), L, *x0.shape[1:])


@torch.no_grad()
def t_sweep(denoiser: Denoiser, x0: torch.Tensor, y: torch.Tensor, t_true: int, t_inputs, seed: int = 0) -> dict:
    """Noise x0 at t_true, then tell the model every t in t_inputs instead.

    Returns {"t": t_inputs, "eps_mse": MSE of eps_hat to the true eps, "eps_rms": RMS of eps_hat}
    as lists: if the network uses t, the error is smallest near t_true.
    """
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = denoiser.schedule.add_noise(x0, noise, torch.full((len(x0),), int(t_true)))
    out = {"t": [int(t) for t in t_inputs], "eps_mse": [], "eps_rms": []}
    for t in out["t"]:
        eps = denoiser(x_t.to(denoiser.device), t, y.to(denoiser.device)).eps.cpu()
        out["eps_mse"].append(mse(eps, noise))
        out["eps_rms"].append(eps.pow(2).mean().sqrt().item())
    return out


def parameters_by_part(model: nn.Module) -> dict:
    """{child name: parameter count} for the model's top-level parts, plus "total"."""
    parts = {name: count_parameters(child) for name, child in model.named_children()}
    parts["total"] = count_parameters(model)
    return parts


@torch.no_grad()
def trace_shapes(model: nn.Module, *inputs) -> list:
    """Run model(*inputs) with forward hooks on its parts (top-level modules, and the members of
    its ModuleLists, named like "down.0.0") and return [(name, type, input shape, output shape)]
    in call order: the tensor shapes through the network."""
    rows, hooks = [], []

    def hook(name):
        def fn(module, args, out):
            rows.append((name, type(module).__name__, tuple(args[0].shape), tuple(out.shape)))
        return fn

    def attach(module, prefix=""):
        for name, child in module.named_children():
            if isinstance(child, nn.ModuleList):
                attach(child, f"{prefix}{name}.")
            else:
                hooks.append(child.register_forward_hook(hook(prefix + name)))

    attach(model)
    try:
        model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return rows


# what the loss means -----------------------------------------------------------------------

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


def implied_x0_mse(eps_mse, schedule, ts) -> torch.Tensor:
    """MSE of the image estimate x0_hat implied by an eps-MSE at each t: eps_mse / SNR(t)."""
    ts = schedule.check_t(torch.as_tensor(ts))
    return torch.as_tensor(eps_mse, dtype=torch.float32) / schedule.snr[ts]


@torch.no_grad()
def eps_mse(denoiser: Denoiser, x0: torch.Tensor, y: torch.Tensor, t, noise: torch.Tensor, batch_size: int = 500):
    """Per-image MSE of the noise estimate eps_hat at x_t = add_noise(x0, noise, t), for a network of
    either prediction type (a v model is judged by the eps it implies, so eps and v models compare
    on one scale). x0, noise (N, C, H, W); y (N,); t (N,) or an int. Returns (N,) on CPU."""
    t = torch.as_tensor(t, dtype=torch.long).expand(len(x0))
    out = []
    for s in range(0, len(x0), batch_size):
        x_t = denoiser.schedule.add_noise(x0[s:s + batch_size], noise[s:s + batch_size], t[s:s + batch_size])
        eps = denoiser(x_t.to(denoiser.device), t[s:s + batch_size], y[s:s + batch_size].to(denoiser.device)).eps
        out.append((eps.cpu() - noise[s:s + batch_size]).pow(2).flatten(1).mean(1))
    return torch.cat(out)


def eps_mse_by_t(denoiser: Denoiser, x0: torch.Tensor, y: torch.Tensor, ts, seed: int = 0,
                 per_image: bool = False) -> torch.Tensor:
    """Mean eps-MSE (see eps_mse) at each timestep in ts, the same noise for every t. Returns (len(ts),),
    or with per_image the values before the mean, (len(ts), N) (for the noise of a comparison)."""
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    per = torch.stack([eps_mse(denoiser, x0, y, int(t), noise) for t in ts])
    return per if per_image else per.mean(1)


@torch.no_grad()
def eps_and_x0_mse(denoiser: Denoiser, x0: torch.Tensor, y: torch.Tensor, t: int, seed: int = 0):
    """Measure both errors of one network call at timestep t: (MSE of eps_hat to eps, MSE of the
    unclipped x0_hat to x0). x0 (N, C, H, W) in [-1, 1], y (N,)."""
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = denoiser.schedule.add_noise(x0, noise, torch.full((len(x0),), int(t)))
    pred = denoiser(x_t.to(denoiser.device), int(t), y.to(denoiser.device))
    return mse(pred.eps, noise), mse(pred.x0, x0)


# scoring a trajectory ----------------------------------------------------------------------

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


# when does a curve cross a level? ----------------------------------------------------------

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


def crossing_band(fraction, values, level: float, noise: float) -> tuple:
    """How far a rising crossing can move within the noise of the values: (earliest, latest), the
    crossings of level - noise and of level + noise (sustained; the crossing of level itself lies
    between). latest is inf when level + noise is never reached, both NaN when nothing is."""
    c = [crossing_point(fraction, values, lv) for lv in (level - noise, level, level + noise)]
    if math.isnan(c[0]):
        return float("nan"), float("nan")
    hi = [x for x in c[1:] if not math.isnan(x)]
    return min(c[0], *hi), (max(hi) if len(hi) == 2 else math.inf)


def curve_summary(curves: Curves, noise: float = 0.0) -> dict:
    """Where the overall accuracy of a Curves crosses 50 % and 90 % ("cross50", "cross90"; NaN:
    never), the band of the 50 % crossing within `noise` of the accuracy ("band50", crossing_band),
    the accuracy at 40 % and 60 % of the way ("acc40", "acc60"), and at the first and last scored
    steps ("start", "end")."""
    f, a = curves.fraction, curves.accuracy.double()
    at = lambda x: float(np.interp(x, f.numpy(), a.numpy()))
    return {"cross50": crossing_point(f, a, 0.5), "cross90": crossing_point(f, a, 0.9),
            "band50": crossing_band(f, a, 0.5, noise), "acc40": at(0.4), "acc60": at(0.6),
            "start": a[0].item(), "end": a[-1].item()}


# coarse to fine: spatial frequencies -------------------------------------------------------

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


# quality and speed of sampling settings ----------------------------------------------------

def score_setting(images: torch.Tensor, labels, setting: dict, seconds: float, classifier=None,
                  keep: int = 20) -> dict:
    """One sweep row for images (N, 1, 28, 28) in [0, 1] made in `seconds` with `setting`:
    the setting, "n", "seconds", "images_per_s", helpers.evaluate.evaluate_samples' accuracy,
    per_digit, confidence, kid, fd and fd_real, diversity and diversity_real (means over digits),
    and "images": the first `keep` samples."""
    ev = evaluate_samples(images, labels, classifier)
    return {**setting, "n": len(images), "seconds": seconds, "images_per_s": len(images) / seconds,
            **{k: ev[k] for k in ("accuracy", "per_digit", "confidence", "kid", "fd", "fd_real")},
            "diversity": nanmean(ev["diversity"]), "diversity_real": nanmean(ev["diversity_real"]),
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


def fewest_steps(rows: list, sampler: str, level: float = 0.98) -> "int | None":
    """The fewest steps of `sampler` among sweep rows whose accuracy is at least level (None: none)."""
    ok = [r["steps"] for r in rows if r["sampler"] == sampler and r["accuracy"] >= level]
    return min(ok) if ok else None


# the cost of a U-Net -----------------------------------------------------------------------

def seconds_per_step(configs: dict, x, y, batch_size: int = 64, probe_steps: int = 3, rounds: int = 3) -> dict:
    """Training-step time of each {name: UNetConfig}: the fastest of `rounds` interleaved
    measurements, so that a burst of other work on the machine (which only ever slows a step down)
    hits no configuration more than another. Returns {name: seconds}."""
    trainers = {k: Trainer(c, TrainConfig(batch_size=batch_size, sample_steps=0, max_steps=10 ** 9))
                for k, c in configs.items()}
    times = {k: [] for k in configs}
    for k, tr in trainers.items():                          # warm-up (allocations, first calls)
        tr.fit(x, y, progress=False, stop_after_steps=1)
    for _ in range(rounds):
        for k, tr in trainers.items():
            t0 = time.perf_counter()
            tr.fit(x, y, progress=False, stop_after_steps=probe_steps)
            times[k].append((time.perf_counter() - t0) / probe_steps)
    return {k: min(v) for k, v in times.items()}


@torch.no_grad()
def sampling_ms_per_image(denoiser: Denoiser, n: int = 100, repeats: int = 3) -> float:
    """Time of one network evaluation per image, in ms, for a batch of n: the fastest of `repeats`
    runs (interference from other work only ever adds time)."""
    cfg = denoiser.model.config
    x = torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size).to(denoiser.device)
    y = (torch.arange(n) % cfg.num_classes).to(denoiser.device)
    denoiser(x, 500, y)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        denoiser(x, 500, y)
        ts.append((time.perf_counter() - t0) / n * 1000)
    return min(ts)
