"""The course's one entry point: a trained model plus everything needed to sample from it.

    import helpers
    pipe = helpers.load_pipeline()                         # the checkpoint shipped in data/
    x = pipe.sample([0, 1, 2], steps=50, generator=torch.Generator().manual_seed(0))
    # x: float (3, 1, 28, 28) in [0, 1] on CPU
"""
from pathlib import Path

import torch

from .samplers import Trajectory, make_sampler, sample_loop
from .schedule import NoiseSchedule
from .train import KIND
from .unet import UNet
from .utils import DATA_DIR, load_checkpoint, pick_device, unnormalize_to_zero_to_one

DEFAULT_CHECKPOINT = DATA_DIR / "ddpm_mnist.pt"
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
    """EMA U-Net + noise schedule + recommended sampling settings."""

    def __init__(self, model: UNet, schedule: NoiseSchedule, guidance: float = 1.0,
                 meta: "dict | None" = None, history: "dict | None" = None):
        self.model, self.schedule = model.eval(), schedule
        self.guidance, self.meta, self.history = guidance, meta or {}, history or {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def image_shape(self):
        c = self.model.config
        return (c.in_channels, c.image_size, c.image_size)

    def to(self, device):
        self.model.to(pick_device(device))
        return self

    def noise(self, n: int, generator=None) -> torch.Tensor:
        """x_T: (n, C, H, W) standard normal, drawn on the CPU so a seed means the same on any device."""
        return torch.randn((n, *self.image_shape), generator=generator)

    @torch.no_grad()
    def sample(self, labels, steps: int = 50, guidance: "float | None" = None, sampler: str = "ddim",
               generator: "torch.Generator | None" = None, eta: float = 0.0, x_T=None,
               return_trajectory: bool = False, progress: bool = False, batch_size: int = 500,
               bf16: bool = True, guidance_interval=None):
        """Generate one image per label.

        labels: LongTensor or list of digits 0..9 (N,). steps: 1..T sampler steps. guidance: the
        classifier-free guidance scale (1 = conditional only, None = the checkpoint's recommended
        scale). sampler: "ddim", "ddpm" or "dpm++". generator: a seeded CPU torch.Generator makes the
        result reproducible. bf16: run the network under bf16 autocast (CPU / CUDA; about 2x faster
        on AVX-512 CPUs). guidance_interval: (lo, hi) guides only at timesteps lo <= t <= hi and
        takes plain conditional steps (one U-Net pass) elsewhere; None guides every step.
        Returns float (N, C, H, W) in [0, 1] on CPU, and with return_trajectory=True also a
        Trajectory (x_t and predicted x0 at every step, in [-1, 1]).
        """
        y = check_labels(labels, self.model.config.num_classes)
        guidance = self.guidance if guidance is None else float(guidance)
        if x_T is None:
            x_T = self.noise(len(y), generator)
        elif tuple(x_T.shape) != (len(y), *self.image_shape):
            raise ValueError(f"x_T must have shape {(len(y), *self.image_shape)}, got {tuple(x_T.shape)}")
        smp = make_sampler(sampler, self.schedule, steps, eta)
        outs, trajs = [], []
        for s in range(0, len(y), batch_size):
            x, traj = sample_loop(self.model, smp, y[s:s + batch_size], x_T[s:s + batch_size], guidance,
                                  generator, capture=return_trajectory, progress=progress,
                                  use_autocast=bf16, guidance_interval=guidance_interval)
            outs.append(unnormalize_to_zero_to_one(x).cpu())
            trajs.append(traj)
        images = torch.cat(outs)
        if not return_trajectory:
            return images
        merged = Trajectory(smp.timesteps, [torch.cat(z, 0) for z in zip(*[t.x_t for t in trajs])],
                            [torch.cat(z, 0) for z in zip(*[t.x0 for t in trajs])])
        return images, merged


def load_pipeline(path: "str | Path | None" = None, device=None) -> Pipeline:
    """Load a course checkpoint (default: the one shipped in data/) as a Pipeline.

    Raises FileNotFoundError if the file is missing and CheckpointError if it is truncated,
    corrupted or not a diffusion checkpoint of this course.
    """
    ckpt = load_checkpoint(path or DEFAULT_CHECKPOINT, KIND, required=("config", "ema"))
    model = UNet(ckpt["config"]["unet"])
    model.load_state_dict({k: v.float() for k, v in ckpt["ema"].items()})
    schedule = NoiseSchedule(**ckpt["config"]["schedule"])
    pipe = Pipeline(model, schedule, ckpt.get("sampling", {}).get("guidance", 1.0),
                    ckpt.get("meta"), ckpt.get("history"))
    return pipe.to(device)
