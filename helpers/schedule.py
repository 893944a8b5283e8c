"""The forward (noising) process of DDPM (Ho et al. 2020) and its closed forms.

Timesteps are integers ``t = 0 .. T-1`` as in diffusers: ``x_t`` is the image after ``t + 1``
noising steps, so ``t = 0`` is barely noisy and ``t = T-1`` is (almost) pure noise.

    q(x_t | x_0) = N( sqrt(alpha_bar_t) x_0,  (1 - alpha_bar_t) I )
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,     eps ~ N(0, I)

Schedules: "linear" (Ho et al.: beta from 1e-4 to 0.02) and "cosine" (Nichol & Dhariwal 2021),
numerically identical to diffusers' "linear" and "squaredcos_cap_v2".

The network predicts either the noise eps or the velocity v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0
(Salimans & Ho 2022). ``NoiseSchedule.convert`` is the one place that reads its output: it returns
``ModelPrediction(eps, x0)`` for either kind, and ``NoiseSchedule.target`` is what the loss compares
the output with.
"""
import math
from dataclasses import dataclass

import torch

PREDICTIONS = ("eps", "v")

# helpers --------------------------------------------------------------------------------------

def _gather(a: torch.Tensor, t: "torch.Tensor | int", like: torch.Tensor) -> torch.Tensor:
    """a[t] shaped (B, 1, 1, 1) (or a scalar) on like's device and dtype, for broadcasting."""
    t = torch.as_tensor(t, dtype=torch.long)
    out = a[t.cpu()].to(like.device, like.dtype)
    return out.view(-1, *([1] * (like.dim() - 1))) if out.dim() else out


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al.'s schedule, scaled so that T = 1000 gives 1e-4 .. 0.02."""
    scale = 1000 / T
    return torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine alpha_bar, turned into betas (capped at max_beta)."""
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)],
                        dtype=torch.float64)


@dataclass
class ModelPrediction:
    """What one network call says about x_t: both estimates, whatever the network predicts."""
    eps: torch.Tensor               # (B, C, H, W) the noise in x_t
    x0: torch.Tensor                # (B, C, H, W) the clean image, unclipped (about [-1, 1])


def check_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be 'eps' or 'v', got {prediction!r}")
    return prediction


# the schedule ---------------------------------------------------------------------------------

class NoiseSchedule:
    """betas, alphas, alpha_bar and the closed forms of the forward process (float32, on CPU).

    Args:
        T: number of diffusion steps.
        kind: "linear" or "cosine".
    """

    def __init__(self, T: int = 1000, kind: str = "cosine"):
        if kind not in ("linear", "cosine"):
            raise ValueError(f"unknown beta schedule {kind!r}: use 'linear' or 'cosine'")
        if int(T) < 1:
            raise ValueError(f"T must be a positive number of steps, got {T}")
        self.T, self.kind = int(T), kind
        betas = linear_betas(self.T) if kind == "linear" else cosine_betas(self.T)
        alpha_bar = torch.cumprod(1 - betas, 0)
        self.betas = betas.float()                          # (T,)
        self.alphas = (1 - betas).float()                   # (T,)
        self.alpha_bar = alpha_bar.float()                  # (T,) decreasing from ~1 to ~0
        self.snr = (alpha_bar / (1 - alpha_bar)).float()    # (T,) signal-to-noise ratio

    def config(self) -> dict:
        return {"T": self.T, "kind": self.kind}

    def check_t(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.long)
        if t.numel() and (t.min() < 0 or t.max() >= self.T):
            raise ValueError(f"timesteps must lie in 0..{self.T - 1}, got {t.min().item()}..{t.max().item()}")
        return t

    def alpha_bar_at(self, t, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t; t = -1 means the clean image (alpha_bar = 1)."""
        t = torch.as_tensor(t, dtype=torch.long)
        ab = torch.cat([torch.ones(1), self.alpha_bar])     # index shift: ab[0] is t = -1
        return _gather(ab, t + 1, like)

    # forward process --------------------------------------------------------------------------

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.

        x0, noise: (B, C, H, W); t: (B,) or scalar long in 0..T-1. Returns x_t (B, C, H, W).
        """
        if x0.shape != noise.shape:
            raise ValueError(f"x0 {tuple(x0.shape)} and noise {tuple(noise.shape)} must have one shape")
        t = self.check_t(t)
        # BEGIN SOLUTION add_noise
        ab = _gather(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        # END SOLUTION

    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """Invert add_noise given a noise estimate: x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)."""
        ab = self.alpha_bar_at(t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def predict_eps(self, x_t: torch.Tensor, x0: torch.Tensor, t) -> torch.Tensor:
        ab = self.alpha_bar_at(t, x_t)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    def get_velocity(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x0 (Salimans & Ho 2022), the target of a
        v-prediction network (diffusers' get_velocity). x0, noise: (B, C, H, W); t: (B,) or scalar."""
        ab = self.alpha_bar_at(self.check_t(t), x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def eps_from_v(self, v: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """The noise a v-prediction implies: eps = sqrt(ab) v + sqrt(1 - ab) x_t (exact, since
        x_t = sqrt(ab) x0 + sqrt(1 - ab) eps and ab + (1 - ab) = 1)."""
        ab = self.alpha_bar_at(t, x_t)
        return ab.sqrt() * v + (1 - ab).sqrt() * x_t

    # reading the network's output -------------------------------------------------------------

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t, prediction: str = "eps") -> torch.Tensor:
        """What a network of this prediction type should output for x_t = add_noise(x0, noise, t)."""
        return noise if check_prediction(prediction) == "eps" else self.get_velocity(x0, noise, t)

    def convert(self, output: torch.Tensor, x_t: torch.Tensor, t, prediction: str = "eps") -> ModelPrediction:
        """The network's output (eps_hat or v_hat, (B, C, H, W)) at x_t -> ModelPrediction(eps, x0)."""
        output = output.float()
        eps = output if check_prediction(prediction) == "eps" else self.eps_from_v(output, x_t.float(), t)
        return ModelPrediction(eps, self.predict_x0(x_t.float(), eps, t))

    def x0_landing_on(self, x_t: torch.Tensor, t, x_s: torch.Tensor, s) -> torch.Tensor:
        """The x0 estimate with which one deterministic DDIM step from x_t (at t) lands exactly on x_s
        (at an earlier s; s = -1: x_s is the clean image): the distillation target of Salimans & Ho
        (2022), x0 = (x_s - (sigma_s / sigma_t) x_t) / (alpha_s - (sigma_s / sigma_t) alpha_t), with
        alpha = sqrt(alpha_bar) and sigma = sqrt(1 - alpha_bar). x_t, x_s: (B, C, H, W)."""
        ab_t, ab_s = self.alpha_bar_at(t, x_t), self.alpha_bar_at(s, x_t)
        r = ((1 - ab_s) / (1 - ab_t)).sqrt()
        return (x_s - r * x_t) / (ab_s.sqrt() - r * ab_t.sqrt())

    # reverse process --------------------------------------------------------------------------

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t, t_prev=None):
        """Mean and variance of q(x_{t_prev} | x_t, x0), for any earlier step t_prev (default t - 1).

        With t_prev = t - 1 this is DDPM's posterior (eq. 7 of Ho et al.); with larger gaps it is the
        posterior of the re-spaced chain used when sampling with fewer steps. t_prev = -1 is x0.
        Returns (mean (B, C, H, W), variance (B, 1, 1, 1)).
        """
        t = torch.as_tensor(t, dtype=torch.long)
        t_prev = t - 1 if t_prev is None else torch.as_tensor(t_prev, dtype=torch.long)
        ab_t, ab_s = self.alpha_bar_at(t, x_t), self.alpha_bar_at(t_prev, x_t)
        alpha = ab_t / ab_s                                   # product of alphas between s and t
        beta = 1 - alpha
        mean = (ab_s.sqrt() * beta / (1 - ab_t)) * x0 + (alpha.sqrt() * (1 - ab_s) / (1 - ab_t)) * x_t
        var = beta * (1 - ab_s) / (1 - ab_t)
        return mean, var
