"""Reverse-diffusion samplers with one small API, in the spirit of diffusers' schedulers.

    sampler = make_sampler("ddim", schedule)      # or "ddpm", "dpm++"
    sampler.set_timesteps(50)                     # sampler.timesteps: (50,) long, descending
    out = sampler.step(eps, t, x_t, generator)    # out.prev_sample = x_{t_prev}, out.pred_x0 = x0_hat

* DDPM (Ho et al. 2020): ancestral sampling; with fewer than T steps it uses the re-spaced chain's
  posterior, as diffusers' DDPMScheduler does.
* DDIM (Song et al. 2021): deterministic for eta = 0; eta = 1 gives the same marginals as DDPM.
* DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver, good in 5-20 steps.

Timesteps are spaced "trailing" (Lin et al. 2024), so even a 1-step sampler starts at t = T-1,
from pure noise. The whole reverse process is one loop, ``denoise``, which every caller shares
(sampling, trajectories, SDEdit, inpainting, CLIP guidance):

    denoiser = Denoiser(model, schedule)          # (x_t, t, y, guidance) -> ModelPrediction(eps, x0)
    for step in denoise(denoiser, sampler, x_T, y, guidance=1.5):
        ...                                       # step.x is x_{t_prev}; a caller may replace it
    x_0 = step.x

Classifier-free guidance (Ho & Salimans 2022) is applied by the Denoiser, optionally only inside a
window of timesteps (Kynkäänniemi et al. 2024).
"""
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .schedule import ModelPrediction, NoiseSchedule
from .unet import autocast


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
        # BEGIN SOLUTION ddpm_step
        t_prev = self.prev_timestep(t)
        x0 = self.pred_x0(eps, t, x_t)
        mean, var = self.schedule.posterior(x0, x_t, t, t_prev)
        if t_prev < 0:
            return StepOutput(mean, x0)
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        return StepOutput(mean + var.sqrt() * z, x0)
        # END SOLUTION


class DDIMSampler(Sampler):
    """DDIM: x_{t_prev} = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - s^2) eps_hat + s z,
    with s = eta * sqrt(posterior variance). eta = 0: deterministic; eta = 1: DDPM's marginals."""
    name = "ddim"

    def __init__(self, schedule, eta: float = 0.0, clip_x0: bool = True):
        self.eta = float(eta)
        super().__init__(schedule, clip_x0)

    def step(self, eps, t, x_t, generator=None):
        # BEGIN SOLUTION ddim_step
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
        # END SOLUTION


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


# the network as a denoiser, with classifier-free guidance -------------------------------------

class Denoiser:
    """A class-conditional network and its schedule: (x_t, t, y, guidance) -> ModelPrediction.

    Classifier-free guidance: out_u + w (out_c - out_u), both passes in one batched call. w = 1 is
    plain conditional sampling (one pass), w = 0 unconditional, w > 1 sharpens the class. The
    guided output is then read by NoiseSchedule.convert, whatever the network predicts (guiding v
    or eps agrees: the map from one to the other is affine with weights summing to one).
    bf16: run the network under bf16 autocast (CPU / CUDA).
    guide: autoguidance (Karras et al. 2024): a weaker network of the same kind (an early snapshot of
    the same run) whose *conditional* output replaces the unconditional one, out_g + w (out_c - out_g);
    w = 0 is then the guide alone.
    """

    def __init__(self, model, schedule: NoiseSchedule, bf16: bool = True, guide=None):
        self.model, self.schedule, self.bf16, self.guide = model, schedule, bf16, guide
        self.prediction = model.config.prediction
        if guide is not None and guide.config.prediction != self.prediction:
            raise ValueError(f"the guide predicts {guide.config.prediction!r} but the model {self.prediction!r}: "
                             "autoguidance mixes two outputs of one kind")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def __call__(self, x_t: torch.Tensor, t, y: torch.Tensor, guidance: float = 1.0) -> ModelPrediction:
        """x_t (B, C, H, W), t an int timestep (or (B,) of them), y (B,) labels (model.null_label: none)."""
        model = self.model
        t = torch.as_tensor(t, dtype=torch.long)
        tt = t.to(x_t.device).expand(x_t.shape[0]) if t.dim() == 0 else t.to(x_t.device)
        with autocast(x_t.device, self.bf16):
            if guidance == 1 or (guidance == 0 and self.guide is None):
                out = model(x_t, tt, y if guidance == 1 else torch.full_like(y, model.null_label)).float()
            elif self.guide is not None:
                out_g = self.guide(x_t, tt, y).float()
                out = out_g + guidance * (model(x_t, tt, y).float() - out_g) if guidance else out_g
            else:
                null = torch.full_like(y, model.null_label)
                out_c, out_u = model(torch.cat([x_t, x_t]), torch.cat([tt, tt]), torch.cat([y, null])).float().chunk(2)
                out = out_u + guidance * (out_c - out_u)
        return self.schedule.convert(out, x_t, t.cpu(), self.prediction)


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


# the reverse process: one loop ----------------------------------------------------------------

@dataclass
class Step:
    """One reverse step t -> t_prev, as denoise yields it. A caller may replace x (inpainting pastes
    the known pixels, CLIP guidance nudges it); redo = True (with x set back to a sample at t) makes
    the loop take the same step again (RePaint's resampling)."""
    i: int                          # index into sampler.timesteps
    t: int
    t_prev: int                     # -1 at the last step
    x: torch.Tensor                 # x_{t_prev} (N, C, H, W); the loop goes on from it
    x0: torch.Tensor                # this step's estimate of x_0, clipped to [-1, 1]
    redo: bool = False


def denoise(denoiser: Denoiser, sampler: Sampler, x: torch.Tensor, y: torch.Tensor, guidance: float = 1.0,
            generator=None, start: int = 0, guidance_interval=None, progress: bool = False):
    """Run the reverse process from x (N, C, H, W) at sampler.timesteps[start] (start = 0: x_T, pure
    noise; start > 0: SDEdit's noised image) for labels y (N,), yielding a Step after every step.
    Tensors live on the denoiser's device. The finished x_0 is the last step's x (unclipped)."""
    interval = check_interval(guidance_interval, sampler.schedule.T)
    x, y = x.to(denoiser.device), y.to(denoiser.device)
    sampler.reset()
    for i, t in enumerate(tqdm(sampler.timesteps[start:].tolist(), disable=not progress,
                               desc=f"{sampler.name} sampling", leave=False), start):
        while True:
            pred = denoiser(x, t, y, guidance_at(guidance, t, interval))
            out = sampler.step(pred.eps, t, x, generator)
            step = Step(i, t, sampler.prev_timestep(t), out.prev_sample, out.pred_x0)
            yield step
            x = step.x
            if not step.redo:
                break


def reverse(denoiser: Denoiser, sampler: Sampler, x: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    """The finished x_0 of denoise(...) (same arguments), clamped to [-1, 1]."""
    for step in denoise(denoiser, sampler, x, y, **kw):
        pass
    return step.x.clamp(-1, 1)


@dataclass
class Trajectory:
    """Every step of a reverse run, on the CPU: what notebook 04 scores and scrubs through."""
    timesteps: torch.Tensor                         # (S,) the t of each step, descending
    x_t: list = field(default_factory=list)         # S + 1 tensors (N, C, H, W): x_T ... x_0
    x0: list = field(default_factory=list)          # S tensors (N, C, H, W): predicted x0 at each step

    def stack(self):
        """(S+1, N, C, H, W) and (S, N, C, H, W) tensors in [-1, 1] (x_T itself is unbounded)."""
        return torch.stack(self.x_t), torch.stack(self.x0)


def record_trajectory(denoiser: Denoiser, sampler: Sampler, x: torch.Tensor, y: torch.Tensor, **kw):
    """reverse(...) that also keeps every x_t and x0_hat. Returns (x_0 in [-1, 1], Trajectory)."""
    traj = Trajectory(sampler.timesteps[kw.get("start", 0):], [x.float().cpu()])
    for step in denoise(denoiser, sampler, x, y, **kw):
        traj.x_t.append(step.x.float().cpu())
        traj.x0.append(step.x0.float().cpu())
    return step.x.clamp(-1, 1), traj
