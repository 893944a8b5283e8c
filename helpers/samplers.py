"""Reverse-diffusion samplers with one small API, in the spirit of diffusers' schedulers.

    sampler = make_sampler("ddim", schedule)      # or "ddpm", "dpm++"
    sampler.set_timesteps(50)                     # sampler.timesteps: (50,) long, descending
    out = sampler.step(eps, t, x_t, generator)    # out.prev_sample = x_{t_prev}, out.pred_x0 = x0_hat

* DDPM (Ho et al. 2020): ancestral sampling; with fewer than T steps it uses the re-spaced chain's
  posterior, as diffusers' DDPMScheduler does.
* DDIM (Song et al. 2021): deterministic for eta = 0; eta = 1 gives the same marginals as DDPM.
* DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver, good in 5-20 steps.

Timesteps are spaced "trailing" (Lin et al. 2024), so even a 1-step sampler starts at t = T-1,
from pure noise. ``sample_loop`` runs the whole loop, with classifier-free guidance (Ho & Salimans 2022),
optionally only inside a window of timesteps (Kynkäänniemi et al. 2024).
"""
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .schedule import NoiseSchedule
from .utils import autocast


@dataclass
class StepOutput:
    prev_sample: torch.Tensor       # x_{t_prev} (B, C, H, W)
    pred_x0: torch.Tensor           # the model's estimate of the clean image, clipped to [-1, 1]


# samplers -------------------------------------------------------------------------------------

class Sampler:
    """Base: timestep bookkeeping and the x0 estimate shared by every sampler."""
    name = "base"

    def __init__(self, schedule: NoiseSchedule, clip_x0: bool = True):
        self.schedule, self.clip_x0 = schedule, clip_x0
        self.set_timesteps(schedule.T)

    def set_timesteps(self, steps: int):
        """Choose `steps` timesteps out of T, trailing spacing: round(T - k T / steps) - 1."""
        T = self.schedule.T
        if not 1 <= int(steps) <= T:
            raise ValueError(f"number of sampling steps must lie in 1..{T}, got {steps}")
        self.steps = int(steps)
        ts = torch.round(torch.arange(T, 0, -T / self.steps, dtype=torch.float64)).long() - 1
        self.timesteps = ts[: self.steps]                              # descending, starts at T-1
        self._prev = dict(zip(self.timesteps.tolist(), self.timesteps[1:].tolist() + [-1]))
        self.reset()
        return self

    def reset(self):
        """Forget multistep history (called by set_timesteps)."""

    def prev_timestep(self, t: int) -> int:
        return self._prev[int(t)]

    def pred_x0(self, eps, t, x_t):
        x0 = self.schedule.predict_x0(x_t, eps, t)
        return x0.clamp(-1, 1) if self.clip_x0 else x0

    def step(self, eps, t, x_t, generator=None) -> StepOutput:
        raise NotImplementedError


class DDPMSampler(Sampler):
    """Ancestral sampling: x_{t_prev} ~ q(x_{t_prev} | x_t, x0_hat) with its posterior variance."""
    name = "ddpm"

    def step(self, eps, t, x_t, generator=None):
        t_prev = self.prev_timestep(t)
        x0 = self.pred_x0(eps, t, x_t)
        mean, var = self.schedule.posterior(x0, x_t, t, t_prev)
        if t_prev < 0:
            return StepOutput(mean, x0)
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        return StepOutput(mean + var.sqrt() * z, x0)


class DDIMSampler(Sampler):
    """DDIM: x_{t_prev} = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - s^2) eps_hat + s z,
    with s = eta * sqrt(posterior variance). eta = 0: deterministic; eta = 1: DDPM's marginals."""
    name = "ddim"

    def __init__(self, schedule, eta: float = 0.0, clip_x0: bool = True):
        self.eta = float(eta)
        super().__init__(schedule, clip_x0)

    def step(self, eps, t, x_t, generator=None):
        t_prev = self.prev_timestep(t)
        s = self.schedule
        x0 = self.pred_x0(eps, t, x_t)
        eps = s.predict_eps(x_t, x0, t)                     # consistent with the clipped x0
        ab_prev = s.alpha_bar_at(t_prev, x_t)
        std = self.eta * s.posterior(x0, x_t, t, t_prev)[1].sqrt()
        x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - std ** 2).clamp(min=0).sqrt() * eps
        if self.eta > 0 and t_prev >= 0:
            x_prev = x_prev + std * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        return StepOutput(x_prev, x0)


class DPMSolverSampler(Sampler):
    """DPM-Solver++(2M): second-order multistep in lambda = log(alpha / sigma), data prediction.
    The first step is first-order (it has no history) and the last one returns x0_hat."""
    name = "dpm++"

    def reset(self):
        self._last = None                                    # (lambda, x0) of the previous step

    def step(self, eps, t, x_t, generator=None):
        t_prev = self.prev_timestep(t)
        x0 = self.pred_x0(eps, t, x_t)
        if t_prev < 0:
            self.reset()
            return StepOutput(x0, x0)
        s = self.schedule
        ab_t, ab_p = s.alpha_bar_at(t, x_t), s.alpha_bar_at(t_prev, x_t)
        lam_t = 0.5 * (ab_t.log() - (1 - ab_t).log())
        lam_p = 0.5 * (ab_p.log() - (1 - ab_p).log())
        h = lam_p - lam_t
        D = x0
        if self._last is not None:
            lam_last, x0_last = self._last
            r = (lam_t - lam_last) / h
            D = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_last
        self._last = (lam_t, x0)
        x_prev = ((1 - ab_p) / (1 - ab_t)).sqrt() * x_t - ab_p.sqrt() * torch.expm1(-h) * D
        return StepOutput(x_prev, x0)


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler, "dpm++": DPMSolverSampler}


def make_sampler(name: str, schedule: NoiseSchedule, steps: "int | None" = None, eta: float = 0.0) -> Sampler:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}: choose one of {sorted(SAMPLERS)}")
    sampler = DDIMSampler(schedule, eta=eta) if name == "ddim" else SAMPLERS[name](schedule)
    return sampler.set_timesteps(schedule.T if steps is None else steps)


# the sampling loop ----------------------------------------------------------------------------

@dataclass
class Trajectory:
    timesteps: torch.Tensor                         # (S,) the t of each step, descending
    x_t: list = field(default_factory=list)         # S + 1 tensors (N, C, H, W): x_T ... x_0 on CPU
    x0: list = field(default_factory=list)          # S tensors (N, C, H, W): predicted x0 at each step

    def stack(self):
        """(S+1, N, C, H, W) and (S, N, C, H, W) tensors in [-1, 1] (x_T itself is unbounded)."""
        return torch.stack(self.x_t), torch.stack(self.x0)


def prediction_of(model) -> str:
    """What model's output means: "eps" (the default) or "v" (UNetConfig.prediction)."""
    return getattr(getattr(model, "config", None), "prediction", "eps")


def guided_eps(model, x_t, t, y, guidance: float, use_autocast: bool = True,
               schedule: "NoiseSchedule | None" = None):
    """Classifier-free guidance: eps_u + w (eps_c - eps_u), one batched call for both passes.

    w = 1 is plain conditional sampling (one pass), w = 0 unconditional, w > 1 sharpens the class.
    A v-prediction model's guided v is turned into eps with `schedule` (required for such a model;
    the map is affine with weights summing to one, so guiding v and guiding eps agree).
    """
    B = x_t.shape[0]
    tt = torch.full((B,), int(t), device=x_t.device, dtype=torch.long)
    null = torch.full_like(y, model.null_label)
    v_model = prediction_of(model) == "v"
    if v_model and schedule is None:
        raise ValueError("this model predicts v (UNetConfig.prediction='v'): pass schedule= to turn it into eps")
    with torch.no_grad(), autocast(x_t.device, use_autocast):
        if guidance in (0, 1):
            out = model(x_t, tt, y if guidance == 1 else null).float()
        else:
            out_c, out_u = model(torch.cat([x_t, x_t]), torch.cat([tt, tt]), torch.cat([y, null])).float().chunk(2)
            out = out_u + guidance * (out_c - out_u)
    return schedule.eps_from_v(out, x_t.float(), t) if v_model else out


def check_interval(interval, T: int):
    """None, or (lo, hi) with 0 <= lo <= hi <= T - 1, as a tuple of ints; ValueError otherwise."""
    if interval is None:
        return None
    try:
        lo, hi = (int(v) for v in interval)
    except (TypeError, ValueError) as e:
        raise ValueError(f"guidance_interval must be a pair of timesteps (lo, hi), got {interval!r}") from e
    if not 0 <= lo <= hi <= T - 1:
        raise ValueError(f"guidance_interval must satisfy 0 <= lo <= hi <= {T - 1}, got ({lo}, {hi})")
    return lo, hi


def guidance_at(guidance: float, t: int, interval=None) -> float:
    """The scale used at timestep t: `guidance` where lo <= t <= hi (everywhere if interval is None),
    1 (conditional, one pass) outside. The idea (Kynkäänniemi et al. 2024, "guidance in a limited
    interval"): guidance at the noisiest steps costs diversity. benchmarks/RESULTS.md measures it on
    the course's model: there a window acts much like a smaller scale."""
    return guidance if interval is None or interval[0] <= t <= interval[1] else 1.0


def network_calls(timesteps, guidance: float, interval=None) -> int:
    """U-Net evaluations per image for a loop over `timesteps` (the sampler's timesteps, or just a
    step count when interval is None): a scale other than 0 or 1 runs both passes (as one batch of
    2N) per step."""
    if isinstance(timesteps, int):
        if interval is not None:
            raise ValueError("network_calls with a guidance interval needs the timesteps themselves, not a count")
        timesteps = range(timesteps)
    return sum(1 if guidance_at(guidance, int(t), interval) in (0, 1) else 2 for t in timesteps)


def sample_loop(model, sampler: Sampler, y: torch.Tensor, x_T: torch.Tensor, guidance: float = 1.0,
                generator=None, capture: bool = False, progress: bool = False, use_autocast: bool = True,
                start_index: int = 0, on_step=None, guidance_interval=None):
    """Run the reverse process from x_T (N, C, H, W) for labels y (N,) on model's device.

    start_index > 0 skips the first timesteps (SDEdit: x_T is then an image noised to
    sampler.timesteps[start_index]). on_step(i, t, x_prev, pred_x0) may return a replacement for
    x_prev (inpainting). guidance_interval (lo, hi): guide only at timesteps lo <= t <= hi, plain
    conditional steps elsewhere (see guidance_at). Returns (x_0 in [-1, 1] (N, C, H, W), Trajectory or None).
    """
    device = next(model.parameters()).device
    x, y = x_T.to(device), y.to(device)
    interval = check_interval(guidance_interval, sampler.schedule.T)
    sampler.reset()
    steps = sampler.timesteps[start_index:]
    traj = Trajectory(steps) if capture else None
    if capture:
        traj.x_t.append(x.float().cpu())
    for i, t in enumerate(tqdm(steps.tolist(), disable=not progress, desc=f"{sampler.name} sampling",
                               leave=False)):
        eps = guided_eps(model, x, t, y, guidance_at(guidance, t, interval), use_autocast, sampler.schedule)
        out = sampler.step(eps, t, x, generator)
        x = out.prev_sample
        if on_step is not None:
            replaced = on_step(start_index + i, t, x, out.pred_x0)
            x = x if replaced is None else replaced
        if capture:
            traj.x_t.append(x.float().cpu())
            traj.x0.append(out.pred_x0.float().cpu())
    return x.clamp(-1, 1), traj
