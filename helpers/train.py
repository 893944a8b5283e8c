"""Training a class-conditional DDPM: the loss, EMA weights, checkpoints that can be resumed.

    trainer = Trainer(UNetConfig(), TrainConfig(epochs=5))
    trainer.fit(x_train, y_train, x_val, y_val)          # images (N, C, H, W) in [-1, 1], labels (N,)
    trainer.save("runs/model.pt")                         # atomic; Trainer.load(...).fit(...) resumes
    trainer = short_run(UNetConfig(skips=False), x, y, x_val, y_val, steps=300, eval_every=50)

Every random draw of step k (its batch order, timesteps, noise and dropped labels) comes from a
generator seeded by (seed, k), so a run interrupted and resumed from a checkpoint computes the
same steps as an uninterrupted one.
"""
import copy
import math
import platform
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checkpoint import DIFFUSION, load_checkpoint, save_atomic
from .data import unnormalize_to_zero_to_one
from .samplers import Denoiser, make_sampler, reverse
from .schedule import NoiseSchedule
from .unet import UNet, UNetConfig, autocast, config_dict, pick_device


@dataclass
class TrainConfig:
    epochs: float = 10              # may be fractional; max_minutes / max_steps can stop earlier
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 200         # linear warm-up, then cosine decay to lr * lr_final
    lr_final: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999        # with warm-up: min(ema_decay, (1 + k) / (10 + k))
    p_uncond: float = 0.1           # label dropout, so one network also learns the null label
    loss_weighting: str = "none"    # "none" (plain MSE on eps) or "min_snr" (Hang et al. 2023)
    min_snr_gamma: float = 5.0
    schedule: str = "cosine"
    T: int = 1000
    bf16: bool = True               # bf16 autocast on CPU / CUDA
    seed: int = 0
    max_minutes: "float | None" = None
    decay_over_time: bool = False   # with max_minutes: cosine decay over the time budget (else constant)
    max_steps: "int | None" = None
    val_size: int = 2000            # fixed (x0, t, noise) triples for a comparable validation loss
    sample_steps: int = 20          # DDIM steps for the per-epoch sample grid (0: no grids)

    def __post_init__(self):
        if self.loss_weighting not in ("none", "min_snr"):
            raise ValueError(f"loss_weighting must be 'none' or 'min_snr', got {self.loss_weighting!r}")
        for name in ("epochs", "batch_size", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")


# the loss -------------------------------------------------------------------------------------

def diffusion_loss(model, schedule, x0, y, t, noise, weighting="none", gamma=5.0, reduce=True):
    """MSE between the network's output and its target at x_t = add_noise(x0, noise, t): the noise
    eps, or v for a v-prediction model (NoiseSchedule.target, UNetConfig.prediction).

    x0 (B, C, H, W) in [-1, 1]; y (B,) labels (null allowed); t (B,). min-SNR weighting (Hang et
    al. 2023) multiplies each image's MSE by min(SNR, gamma) / SNR for eps and min(SNR, gamma) /
    (SNR + 1) for v: the same weight on the implied eps error either way, since
    eps - eps_hat = sqrt(alpha_bar) (v - v_hat). Returns a scalar, or (B,) per-image losses.
    """
    prediction = model.config.prediction
    # BEGIN SOLUTION loss
    x_t = schedule.add_noise(x0, noise, t)
    target = schedule.target(x0, noise, t, prediction)
    per_image = F.mse_loss(model(x_t, t, y).float(), target, reduction="none").mean(dim=(1, 2, 3))
    # END SOLUTION
    if weighting == "min_snr":
        snr = schedule.snr[t.cpu()].to(per_image.device)
        per_image = per_image * snr.clamp(max=gamma) / (snr + 1 if prediction == "v" else snr)
    return per_image.mean() if reduce else per_image


@torch.no_grad()
def ema_update(ema, model, decay: float, step: int):
    """Move the EMA copy's weights toward the model's, with a warm-up: decay min(decay, (1 + step) /
    (10 + step)); buffers are copied."""
    d = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - d)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


# the trainer ----------------------------------------------------------------------------------

class Trainer:
    """Holds the model, its EMA copy, the optimizer, the step counter and the history."""

    def __init__(self, model_config: "UNetConfig | dict | None" = None,
                 config: "TrainConfig | dict | None" = None, device=None):
        self.config = TrainConfig(**config) if isinstance(config, dict) else (config or TrainConfig())
        self.device = pick_device(device)
        torch.manual_seed(self.config.seed)                     # identical initial weights per seed
        self.model = UNet(model_config).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.schedule = NoiseSchedule(self.config.T, self.config.schedule)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr,
                                     weight_decay=self.config.weight_decay)
        self.step, self.elapsed = 0, 0.0
        self.history = {k: [] for k in ("epoch", "step", "time", "train_loss", "val_loss",
                                        "val_loss_raw", "samples", "step_loss")}

    # state ----------------------------------------------------------------------------------

    def state_dict(self, slim: bool = False) -> dict:
        """Everything needed to resume (slim=True: only what sampling needs, for shipping)."""
        ckpt = {"kind": DIFFUSION,
                "config": {"unet": config_dict(self.model.config), "schedule": self.schedule.config(),
                           "train": asdict(self.config)},
                "ema": self.ema.state_dict(), "step": self.step, "elapsed": self.elapsed,
                "history": self.history,
                "meta": {"machine": f"{platform.machine()} {platform.processor() or ''} "
                                    f"{torch.get_num_threads()} threads".strip(),
                         "device": str(self.device), "torch": str(torch.__version__)}}
        if not slim:
            ckpt |= {"model": self.model.state_dict(), "optimizer": self.opt.state_dict()}
        return ckpt

    def save(self, path, slim: bool = False, **extra):
        return save_atomic(self.state_dict(slim) | extra, path)

    @classmethod
    def load(cls, path, device=None, **overrides) -> "Trainer":
        """Resume from a full checkpoint; overrides change TrainConfig fields (e.g. epochs=20)."""
        ckpt = load_checkpoint(path, DIFFUSION, required=("config", "ema", "model", "optimizer", "step"))
        trainer = cls(ckpt["config"]["unet"], {**ckpt["config"]["train"], **overrides}, device)
        trainer.model.load_state_dict(ckpt["model"])
        trainer.ema.load_state_dict(ckpt["ema"])
        trainer.opt.load_state_dict(ckpt["optimizer"])
        trainer.step, trainer.elapsed, trainer.history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        return trainer

    # schedule of the learning rate and of the EMA ---------------------------------------------

    def lr_at(self, step: int, total: int) -> float:
        c = self.config
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        if c.max_minutes is None:
            frac = min(1.0, (step - c.warmup_steps) / max(1, total - c.warmup_steps))
        elif c.decay_over_time:                              # the fraction of the time budget spent
            frac = min(1.0, self.elapsed / (c.max_minutes * 60))
        else:                                                # unknown length: constant after warm-up
            return c.lr
        return c.lr * (c.lr_final + (1 - c.lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))

    def update_ema(self):
        ema_update(self.ema, self.model, self.config.ema_decay, self.step)

    # one step ---------------------------------------------------------------------------------

    def train_step(self, x: torch.Tensor, y: torch.Tensor, total: int, extra_loss=None) -> float:
        """One optimisation step on a random batch of (x, y); its randomness depends only on
        (seed, step). x: (N, C, H, W) in [-1, 1] on CPU; y: (N,). extra_loss(model, schedule, x0, y,
        t, noise) -> scalar is added to the diffusion loss (e.g. helpers.clip.clip_loss); the batch
        is the same with or without it."""
        c, n = self.config, len(x)
        spe = max(1, n // c.batch_size)                      # steps per epoch (last partial batch dropped)
        epoch, k = divmod(self.step, spe)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.seed * 7919 + epoch))
        idx = perm[k * c.batch_size:(k + 1) * c.batch_size]
        g = torch.Generator().manual_seed(c.seed * 1_000_003 + self.step)
        x0, y0 = x[idx], y[idx].clone()
        t = torch.randint(0, self.schedule.T, (len(idx),), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        y0[torch.rand(len(idx), generator=g) < c.p_uncond] = self.model.null_label
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step, total)
        dev = self.device
        batch = [v.to(dev) for v in (x0, y0, t, noise)]
        with autocast(dev, c.bf16):
            loss = diffusion_loss(self.model, self.schedule, *batch, c.loss_weighting, c.min_snr_gamma)
            if extra_loss is not None:
                loss = loss + extra_loss(self.model, self.schedule, *batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.opt.step()
        self.step += 1
        self.update_ema()
        return loss.item()

    # evaluation -------------------------------------------------------------------------------

    def val_batch(self, x_val, y_val):
        """The fixed (x0, y, t, noise) validation triples: the same draw at every evaluation."""
        g = torch.Generator().manual_seed(12345)
        n = min(self.config.val_size, len(x_val))
        idx = torch.randperm(len(x_val), generator=g)[:n]
        t = torch.randint(0, self.schedule.T, (n,), generator=g)
        return x_val[idx], y_val[idx], t, torch.randn((n, *x_val.shape[1:]), generator=g)

    @torch.no_grad()
    def val_loss(self, model, x_val, y_val) -> float:
        """Mean loss (the MSE of eps, or of v for a v model) on the fixed val_batch triples."""
        batch = self.val_batch(x_val, y_val)
        total = 0.0
        for s in range(0, len(batch[0]), 500):
            with autocast(self.device, self.config.bf16):
                total += diffusion_loss(model, self.schedule, *(b[s:s + 500].to(self.device) for b in batch),
                                        reduce=False).sum().item()
        return total / len(batch[0])

    @torch.no_grad()
    def sample_grid(self, per_class: int = 4, steps: "int | None" = None, seed: int = 0) -> torch.Tensor:
        """EMA samples, per_class of each digit, as uint8 (num_classes * per_class, C, H, W)."""
        cfg = self.model.config
        y = torch.arange(cfg.num_classes).repeat_interleave(per_class)
        g = torch.Generator().manual_seed(seed)
        x_T = torch.randn((len(y), cfg.in_channels, cfg.image_size, cfg.image_size), generator=g)
        sampler = make_sampler("ddim", self.schedule, steps or self.config.sample_steps)
        x = reverse(Denoiser(self.ema, self.schedule), sampler, x_T, y, generator=g)
        return (unnormalize_to_zero_to_one(x.cpu()) * 255).round().to(torch.uint8)

    # the loop ---------------------------------------------------------------------------------

    def fit(self, x, y, x_val=None, y_val=None, checkpoint: "str | None" = None, progress: bool = True,
            on_epoch_end=None, stop_after_steps: "int | None" = None, snapshot_steps=(),
            epoch_evals: bool = True):
        """Train until config.epochs (or max_steps / max_minutes) is reached.

        x: (N, C, H, W) float in [-1, 1]; y: (N,) long. After each epoch, and at every step in
        snapshot_steps (e.g. to see the first minutes of training): validation loss (EMA and raw
        weights), a sample grid, a checkpoint if `checkpoint` is a path, and on_epoch_end(trainer).
        epoch_evals=False: only at snapshot_steps and at the end (short_run). stop_after_steps
        simulates an interruption (tests). Returns self.history.
        """
        snapshot_steps = {int(s) for s in snapshot_steps}
        c = self.config
        if x.dim() != 4 or len(x) != len(y):
            raise ValueError(f"x must be (N, C, H, W) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
        spe = max(1, len(x) // c.batch_size)
        total = int(c.epochs * spe) if c.max_steps is None else min(c.max_steps, int(c.epochs * spe))
        budget = None if c.max_minutes is None else c.max_minutes * 60
        bar = tqdm(total=total, initial=self.step, disable=not progress, desc="training", unit="step")
        run_losses, t0, el0, done = [], time.perf_counter(), self.elapsed, 0
        while self.step < total and (budget is None or self.elapsed < budget):
            if stop_after_steps is not None and done >= stop_after_steps:
                break
            run_losses.append(self.train_step(x, y, total))
            done += 1
            self.elapsed = el0 + time.perf_counter() - t0
            if self.step % 50 == 0:
                self.history["step_loss"].append((self.step, sum(run_losses[-50:]) / len(run_losses[-50:])))
                bar.set_postfix(loss=f"{self.history['step_loss'][-1][1]:.4f}")
            bar.update(1)
            end_of_epoch = (epoch_evals and self.step % spe == 0) or self.step == total or self.step in snapshot_steps
            if end_of_epoch or (budget is not None and self.elapsed >= budget):
                self._end_epoch(run_losses, x_val, y_val, spe)
                run_losses = []
                if checkpoint:
                    self.save(checkpoint)
                if on_epoch_end is not None:
                    on_epoch_end(self)
                t0, el0 = time.perf_counter(), self.elapsed          # evaluation time is not counted
        bar.close()
        return self.history

    def _end_epoch(self, losses, x_val, y_val, spe):
        h = self.history
        h["epoch"].append(self.step / spe)
        h["step"].append(self.step)
        h["time"].append(self.elapsed)
        h["train_loss"].append(sum(losses) / max(1, len(losses)))
        if x_val is not None:
            h["val_loss"].append(self.val_loss(self.ema, x_val, y_val))
            h["val_loss_raw"].append(self.val_loss(self.model, x_val, y_val))
        if self.config.sample_steps:
            h["samples"].append(self.sample_grid())


# a short run ----------------------------------------------------------------------------------

def short_run(model_config: "UNetConfig | dict", x, y, x_val=None, y_val=None, steps: "int | None" = None,
              minutes: "float | None" = None, eval_every: "int | None" = None, batch_size: int = 64,
              progress: bool = True, device=None, **train_kw) -> Trainer:
    """Train a fresh model for `steps` optimiser steps (a budget that does not depend on how busy the
    CPU is) or `minutes` of training time, whichever ends first, with a validation loss (EMA and raw
    weights, in trainer.history) every eval_every steps and at the end. No sample grids.

    x, x_val: (N, C, H, W) in [-1, 1]; y, y_val: (N,). train_kw: other TrainConfig fields (for
    example ema_decay=0.995: a short run needs a short memory). Returns the Trainer.
    """
    if steps is None and minutes is None:
        raise ValueError("give a step budget (steps) or a time budget (minutes)")
    if (steps is not None and steps < 1) or (eval_every is not None and eval_every < 1):
        raise ValueError(f"steps and eval_every must be >= 1, got {steps} and {eval_every}")
    upper = steps if steps is not None else math.ceil(minutes * 60 * 20)      # at most 20 steps/s here
    cfg = TrainConfig(**{"epochs": 1e9, "max_steps": upper, "max_minutes": minutes, "batch_size": batch_size,
                         "warmup_steps": min(100, upper // 5), "sample_steps": 0,
                         "val_size": len(x_val) if x_val is not None else 0, **train_kw})
    trainer = Trainer(model_config, cfg, device)
    trainer.fit(x, y, x_val, y_val, progress=progress, epoch_evals=False,
                snapshot_steps=range(eval_every, upper, eval_every) if eval_every else ())
    trainer.model.eval()
    return trainer
