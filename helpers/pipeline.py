"""The course's one entry point: a trained model plus everything needed to sample from it.

    import helpers
    pipe = helpers.load_pipeline()                         # the checkpoint shipped in data/
    x = pipe.sample([0, 1, 2], steps=50, generator=torch.Generator().manual_seed(0))
    # x: float (3, 1, 28, 28) in [0, 1] on CPU
    fast = helpers.load_pipeline("fast")                   # distilled: 4 steps, one network call each
    x = fast.sample([0, 1, 2])                             # its own sampler, steps and guidance
"""
from pathlib import Path

import torch

from .checkpoint import DATA_DIR, DIFFUSION, load_checkpoint
from .data import unnormalize_to_zero_to_one
from .samplers import Denoiser, make_sampler, record_trajectory, reverse
from .schedule import NoiseSchedule
from .unet import UNet, pick_device

DEFAULT_CHECKPOINT = DATA_DIR / "ddpm_mnist.pt"
CHECKPOINTS = {"default": DEFAULT_CHECKPOINT,           # the shipped model: DDIM 50 steps, guidance 1.5
               "fast": DATA_DIR / "ddpm_mnist_fast.pt"}  # distilled from it (data/distill_model.py)
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def check_labels(labels, num_classes: int = 10) -> torch.Tensor:
    """A list / tensor of class labels -> LongTensor (N,); raises ValueError naming a bad label."""
    if isinstance(labels, int):
        labels = [labels]
    try:
        y = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"labels must be digits 0..{num_classes - 1}, got {labels!r}") from e
    if y.dim() != 1 or y.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D list or tensor of digits, got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be integers 0..{num_classes - 1}, got dtype {y.dtype}")
    bad = y[(y < 0) | (y >= num_classes)]
    if bad.numel():
        raise ValueError(f"unknown digit label {bad[0].item()}: labels must lie in 0..{num_classes - 1}")
    return y.long()


class Pipeline:
    """EMA U-Net + noise schedule + recommended sampling settings (what sample() does when not told)."""

    def __init__(self, model: UNet, schedule: NoiseSchedule, guidance: float = 1.0,
                 meta: "dict | None" = None, history: "dict | None" = None, steps: int = 50,
                 sampler: str = "ddim", guide: "UNet | None" = None):
        self.model, self.schedule = model.eval(), schedule
        self.guidance, self.meta, self.history = guidance, meta or {}, history or {}
        self.steps, self.sampler = steps, sampler
        self.guide = None if guide is None else guide.eval()    # autoguidance's weaker model (Denoiser)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def image_shape(self):
        c = self.model.config
        return (c.in_channels, c.image_size, c.image_size)

    def to(self, device):
        for net in (self.model, self.guide):
            if net is not None:
                net.to(pick_device(device))
        return self

    def noise(self, n: int, generator=None) -> torch.Tensor:
        """x_T: (n, C, H, W) standard normal, drawn on the CPU so a seed means the same on any device."""
        return torch.randn((n, *self.image_shape), generator=generator)

    def denoiser(self, bf16: bool = True) -> Denoiser:
        return Denoiser(self.model, self.schedule, bf16, self.guide)

    def _setup(self, labels, steps, guidance, sampler, generator, eta, x_T):
        """Checked labels (N,), the guidance scale, a sampler set to `steps` and x_T (N, C, H, W)."""
        y = check_labels(labels, self.model.config.num_classes)
        steps = self.steps if steps is None else steps
        sampler = self.sampler if sampler is None else sampler
        if x_T is None:
            x_T = self.noise(len(y), generator)
        elif tuple(x_T.shape) != (len(y), *self.image_shape):
            raise ValueError(f"x_T must have shape {(len(y), *self.image_shape)}, got {tuple(x_T.shape)}")
        guidance = self.guidance if guidance is None else float(guidance)
        return y, guidance, make_sampler(sampler, self.schedule, steps, eta), x_T

    @torch.no_grad()
    def sample(self, labels, steps: "int | None" = None, guidance: "float | None" = None,
               generator: "torch.Generator | None" = None, sampler: "str | None" = None, eta: float = 0.0,
               x_T=None, progress: bool = False, batch_size: int = 500, bf16: bool = True,
               guidance_interval=None) -> torch.Tensor:
        """Generate one image per label.

        labels: LongTensor or list of digits 0..9 (N,). steps: 1..T sampler steps. guidance: the
        classifier-free guidance scale (1 = conditional only). generator: a seeded CPU torch.Generator
        makes the result reproducible. sampler: "ddim", "ddpm" or "dpm++" (eta: DDIM's noise). None:
        the checkpoint's recommendation (the shipped model: DDIM, 50 steps, guidance 1.5). bf16: run
        the network under bf16 autocast (CPU / CUDA; about 2x faster on AVX-512 CPUs). guidance_interval: (lo, hi) guides only at
        timesteps lo <= t <= hi, plain conditional steps (one pass) elsewhere.
        Returns float (N, C, H, W) in [0, 1] on CPU.
        """
        y, guidance, smp, x_T = self._setup(labels, steps, guidance, sampler, generator, eta, x_T)
        denoiser = self.denoiser(bf16)
        return torch.cat([unnormalize_to_zero_to_one(reverse(
            denoiser, smp, x_T[s:s + batch_size], y[s:s + batch_size], guidance=guidance, generator=generator,
            guidance_interval=guidance_interval, progress=progress)).cpu() for s in range(0, len(y), batch_size)])

    @torch.no_grad()
    def trajectory(self, labels, steps: "int | None" = None, guidance: "float | None" = None,
                   generator: "torch.Generator | None" = None, sampler: "str | None" = None, eta: float = 0.0,
                   x_T=None, progress: bool = False, bf16: bool = True):
        """sample(...) that keeps every step: (images (N, C, H, W) in [0, 1], Trajectory with x_t and
        the predicted x0 at every step in [-1, 1], on CPU)."""
        y, guidance, smp, x_T = self._setup(labels, steps, guidance, sampler, generator, eta, x_T)
        x, traj = record_trajectory(self.denoiser(bf16), smp, x_T, y, guidance=guidance, generator=generator,
                                    progress=progress)
        return unnormalize_to_zero_to_one(x).cpu(), traj


def load_pipeline(path: "str | Path | None" = None, device=None) -> Pipeline:
    """Load a course checkpoint as a Pipeline: a path, or the name of one shipped in data/ (None or
    "default": the course's model; "fast": its distilled few-step version, see CHECKPOINTS).

    Raises FileNotFoundError if the file is missing and CheckpointError if it is truncated,
    corrupted or not a diffusion checkpoint of this course.
    """
    ckpt = load_checkpoint(CHECKPOINTS.get(str(path or "default"), path), DIFFUSION, required=("config", "ema"))
    model = UNet(ckpt["config"]["unet"])
    model.load_state_dict({k: v.float() for k, v in ckpt["ema"].items()})
    schedule = NoiseSchedule(**ckpt["config"]["schedule"])
    sampling = ckpt.get("sampling", {})
    pipe = Pipeline(model, schedule, sampling.get("guidance", 1.0), ckpt.get("meta"), ckpt.get("history"),
                    sampling.get("steps", 50), sampling.get("sampler", "ddim"))
    return pipe.to(device)
