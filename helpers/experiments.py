"""Small experiments that notebooks 01 and 02 run and then explain.

    destruction_times(schedule)                      # at which t is most of the signal gone?
    recovery_experiment(model, schedule, x0, y, ts)  # one network call vs the reverse process
    train_denoiser(UNetConfig(skips=False), ...)     # a short, fixed-step training run
    label_sweep(model, schedule, x0, t)              # one x_t, every class label
    t_sweep(model, schedule, x0, y, t_true, ts)      # one x_t, the model told other timesteps

Images are (N, C, H, W) in [-1, 1] unless a name says ``01`` ([0, 1]); timesteps are ints in 0..T-1.
"""
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from .samplers import guided_eps, make_sampler, sample_loop
from .schedule import NoiseSchedule
from .train import Trainer, TrainConfig
from .unet import UNetConfig, count_parameters
from .utils import unnormalize_to_zero_to_one


# the forward process --------------------------------------------------------------------------

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


# measuring images -----------------------------------------------------------------------------

def mid_gray_fraction(x01: torch.Tensor, lo: float = 0.1, hi: float = 0.9) -> float:
    """Fraction of pixels strictly between lo and hi: MNIST digits are almost black and white,
    blurry images are grey. x01: (N, C, H, W) in [0, 1]."""
    return ((x01 > lo) & (x01 < hi)).float().mean().item()


def classifier_accuracy(classifier, x01: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images (N, 1, 28, 28) in [0, 1] that the course classifier labels y (N,)."""
    from .classifier import predict
    probs, _ = predict(classifier, x01)
    return (probs.argmax(1) == y.cpu()).float().mean().item()


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float().cpu() - b.float().cpu()).pow(2).mean().item()


# one network call vs the reverse process ------------------------------------------------------

@torch.no_grad()
def one_shot_x0(model, schedule: NoiseSchedule, x_t: torch.Tensor, t: int, y: torch.Tensor) -> torch.Tensor:
    """x0_hat = predict_x0(x_t, eps_hat): one network call, clipped to [-1, 1] as the samplers do."""
    device = next(model.parameters()).device
    eps = guided_eps(model, x_t.to(device), t, y.to(device), 1.0, schedule=schedule).cpu()
    return schedule.predict_x0(x_t, eps, t).clamp(-1, 1)


def snap_to_grid(ts, grid: torch.Tensor) -> list:
    """Each t replaced by the nearest timestep of a sampler's grid (duplicates removed, order kept)."""
    out = []
    for t in ts:
        s = int(grid[(grid - int(t)).abs().argmin()])
        if s not in out:
            out.append(s)
    return out


@torch.no_grad()
def reverse_from(model, schedule: NoiseSchedule, x_t: torch.Tensor, t: int, y: torch.Tensor,
                 steps: int = 50) -> torch.Tensor:
    """Deterministic DDIM from x_t at timestep t down to x_0, on the `steps`-step grid over T
    (t must lie on it: see snap_to_grid). Returns x_0 (N, C, H, W) in [-1, 1] on CPU."""
    sampler = make_sampler("ddim", schedule, steps)
    hits = (sampler.timesteps == int(t)).nonzero()
    if not len(hits):
        raise ValueError(f"t={t} is not on the {steps}-step DDIM grid {sampler.timesteps.tolist()[:4]}...; "
                         f"use snap_to_grid")
    x0, _ = sample_loop(model, sampler, y, x_t, start_index=int(hits[0]))
    return x0.cpu()


def recovery_experiment(model, schedule: NoiseSchedule, x0: torch.Tensor, y: torch.Tensor, ts,
                        steps: int = 50, classifier=None, hide_label: bool = False, seed: int = 0,
                        progress: bool = True) -> dict:
    """Recover x0 (N, C, H, W) with labels y (N,) from x_t at each t in ts (snapped to the DDIM
    grid) two ways: one network call (one_shot_x0) and the many-step reverse process
    (reverse_from), from the same x_t. Both are told the label y, or the null label if hide_label
    (then the classifier's accuracy measures how much of the digit's identity was recovered).

    Returns {"t", "alpha_bar", "calls_reverse", "mse_<way>", "acc_<way>" (None without a
    classifier), "gray_<way>"} as lists over t, with <way> in one_shot / reverse, and "images":
    {t: (x_t, one_shot, reverse)} in [0, 1]. mse is against the true x0 in [-1, 1].
    """
    grid = make_sampler("ddim", schedule, steps).timesteps
    ts = snap_to_grid(ts, grid)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    y_in = torch.full_like(y, model.null_label) if hide_label else y
    res = {"t": ts, "alpha_bar": [schedule.alpha_bar[t].item() for t in ts],
           "calls_reverse": [int((grid <= t).sum()) for t in ts], "images": {}}
    for t in tqdm(ts, desc="one-shot vs reverse", disable=not progress):
        x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), t))
        outs = {"one_shot": one_shot_x0(model, schedule, x_t, t, y_in),
                "reverse": reverse_from(model, schedule, x_t, t, y_in, steps)}
        for way, x in outs.items():
            x01 = unnormalize_to_zero_to_one(x)
            res.setdefault(f"mse_{way}", []).append(mse(x, x0))
            res.setdefault(f"gray_{way}", []).append(mid_gray_fraction(x01))
            res.setdefault(f"acc_{way}", []).append(
                None if classifier is None else classifier_accuracy(classifier, x01, y))
        res["images"][t] = tuple(unnormalize_to_zero_to_one(z) for z in (x_t, outs["one_shot"], outs["reverse"]))
    return res


# short training runs --------------------------------------------------------------------------

def train_denoiser(unet_cfg: UNetConfig, x, y, x_val, y_val, steps: int, eval_every: int = 50,
                   batch_size: int = 64, lr: float = 2e-3, seed: int = 0, device=None, progress: bool = True,
                   **train_kw):
    """Train a denoiser for exactly `steps` optimiser steps (a budget that does not depend on how
    busy the CPU is), evaluating the validation eps-MSE of the raw weights every eval_every steps.

    x, x_val: (N, C, H, W) in [-1, 1]; y, y_val: (N,). Returns (trainer, curve) with curve =
    {"step": [...], "val_loss": [...], "seconds": training time}. train_kw: other TrainConfig fields.
    """
    if steps < 1 or eval_every < 1:
        raise ValueError(f"steps and eval_every must be >= 1, got {steps} and {eval_every}")
    cfg = TrainConfig(epochs=1e9, max_steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      warmup_steps=min(100, steps // 5), sample_steps=0, val_size=len(x_val),
                      **train_kw)
    trainer = Trainer(unet_cfg, cfg, device)
    curve, seconds = {"step": [], "val_loss": []}, 0.0
    bar = tqdm(total=steps, desc=f"skips={unet_cfg.skips}", disable=not progress)
    while trainer.step < steps:
        t0 = time.perf_counter()
        before = trainer.step
        trainer.fit(x, y, progress=False, stop_after_steps=min(eval_every, steps - trainer.step))
        seconds += time.perf_counter() - t0
        curve["step"].append(trainer.step)
        curve["val_loss"].append(trainer.val_loss(trainer.model, x_val, y_val))
        bar.update(trainer.step - before)
        bar.set_postfix(val_loss=f"{curve['val_loss'][-1]:.4f}")
    bar.close()
    curve["seconds"] = seconds
    trainer.model.eval()
    return trainer, curve


# what the network listens to ------------------------------------------------------------------

@torch.no_grad()
def label_sweep(model, schedule: NoiseSchedule, x0: torch.Tensor, t: int, labels=range(10), seed: int = 0,
                steps: "int | None" = None):
    """One x_t per image of x0 (N, C, H, W), denoised under every label: in one call, or with
    steps given by the reverse process (reverse_from: t must lie on the steps-step DDIM grid).

    Returns (x_t (N, C, H, W), x0_hat (N, L, C, H, W)), both in [-1, 1] (x_t unbounded).
    """
    labels = torch.as_tensor(list(labels), dtype=torch.long)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), int(t)))
    L = len(labels)
    x_rep = x_t.repeat_interleave(L, 0)                          # (N * L, C, H, W)
    y_rep = labels.repeat(len(x0))
    x0_hat = one_shot_x0(model, schedule, x_rep, int(t), y_rep) if steps is None else \
        reverse_from(model, schedule, x_rep, int(t), y_rep, steps)
    return x_t, x0_hat.view(len(x0), L, *x0.shape[1:])


@torch.no_grad()
def t_sweep(model, schedule: NoiseSchedule, x0: torch.Tensor, y: torch.Tensor, t_true: int, t_inputs,
            seed: int = 0) -> dict:
    """Noise x0 at t_true, then tell the model every t in t_inputs instead.

    Returns {"t": t_inputs, "eps_mse": MSE of eps_hat to the true eps, "eps_rms": RMS of eps_hat}
    as lists: if the network uses t, the error is smallest near t_true.
    """
    device = next(model.parameters()).device
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = schedule.add_noise(x0, noise, torch.full((len(x0),), int(t_true)))
    out = {"t": [int(t) for t in t_inputs], "eps_mse": [], "eps_rms": []}
    for t in out["t"]:
        eps = guided_eps(model, x_t.to(device), t, y.to(device), 1.0, schedule=schedule).cpu()
        out["eps_mse"].append(mse(eps, noise))
        out["eps_rms"].append(eps.pow(2).mean().sqrt().item())
    return out


# anatomy of the U-Net -------------------------------------------------------------------------

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
