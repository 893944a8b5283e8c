"""A small class-conditional U-Net that predicts the noise eps in x_t (Ronneberger et al. 2015;
Ho et al. 2020; time embedding from Vaswani et al. 2017; classifier-free guidance's null label from
Ho & Salimans 2022), or the velocity v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 with
UNetConfig(prediction="v") (Salimans & Ho 2022; NoiseSchedule.convert reads either).

    x_t (B, C, H, W), t (B,), y (B,)  ->  eps_hat or v_hat (B, C, H, W)

Shapes for the default 28x28 model (base 32, mults (1, 2, 2)):
    28x28x32 --down--> 14x14x64 --down--> 7x7x64 --mid--> 7x7x64 --up--> 14x14x64 --up--> 28x28x32
Each decoder block concatenates the encoder's feature map of the same resolution (the skip).
The time and class embeddings are summed into one vector, projected by every residual block and
added to its feature maps, so every block knows the noise level and the requested digit.
"""
import math
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .schedule import PREDICTIONS

# where the network runs -----------------------------------------------------------------------

def pick_device(device: "str | torch.device | None" = None) -> torch.device:
    """The requested device, or the best available one: cuda, then mps, then cpu."""
    if device not in (None, "auto"):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def machine() -> str:
    """The CPU's model name, its thread count for torch and its kernels' instruction set, e.g.
    "AMD EPYC, 2 threads, AVX2": what every timing and every wall-clock budget depends on."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    name = names[0] if names else (platform.processor() or platform.machine())
    return f"{name}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"


def bf16_pays(device: torch.device) -> bool:
    """Whether bf16 autocast speeds this device up: CUDA with bf16 support, or a CPU whose kernels
    run AVX-512 (there it doubles a small U-Net's training throughput). On an AVX2-only CPU bf16 is
    emulated and 8-15x slower than float32 (benchmarks/bench_core.py prints the ratio). The
    environment variable COURSE_BF16=0 / 1 overrides the guess."""
    forced = os.environ.get("COURSE_BF16")
    if forced in ("0", "1"):
        return forced == "1" and device.type in ("cpu", "cuda")
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX")


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast where it pays (bf16_pays: CUDA, AVX-512 CPUs); float32 elsewhere."""
    enabled = enabled and bf16_pays(device)
    return torch.autocast(device_type=device.type if enabled else "cpu", dtype=torch.bfloat16,
                          enabled=enabled)


# the configuration ----------------------------------------------------------------------------

@dataclass
class UNetConfig:
    image_size: int = 28            # 28 or 32 (any size divisible by 2 ** (len(mults) - 1))
    in_channels: int = 1            # 1 (grey) or 3 (RGB)
    base: int = 32                  # channels at full resolution
    mults: tuple = (1, 2, 2)        # channel multiplier per resolution level
    blocks: int = 1                 # residual blocks per level
    attn_resolutions: tuple = ()    # feature-map sizes that get self-attention, e.g. (7,)
    num_classes: int = 10           # the embedding has one more row: the "null" label
    skips: bool = True              # False zeroes the skip connections (notebook 02's experiment)
    dropout: float = 0.0
    prediction: str = "eps"         # what the output means: "eps" (the noise) or "v" (Salimans & Ho)

    def __post_init__(self):
        self.mults, self.attn_resolutions = tuple(self.mults), tuple(self.attn_resolutions)
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"UNetConfig.prediction must be 'eps' or 'v', got {self.prediction!r}")
        if self.image_size % 2 ** (len(self.mults) - 1):
            raise ValueError(f"image_size {self.image_size} must be divisible by {2 ** (len(self.mults) - 1)}")


# embeddings -----------------------------------------------------------------------------------

class SinusoidalPosEmb(nn.Module):
    """t (B,) -> (B, dim): sin/cos of t at dim/2 geometrically spaced frequencies."""

    def __init__(self, dim: int, max_period: float = 10000.0):
        super().__init__()
        self.dim, self.max_period = dim, max_period

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION time_embedding
        half = self.dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=-1)
        # END SOLUTION


# building blocks ------------------------------------------------------------------------------

def norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    """(B, c_in, H, W), emb (B, E) -> (B, c_out, H, W); the embedding is added after the first conv."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.block1 = nn.Sequential(norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.block2 = nn.Sequential(norm(c_out), nn.SiLU(), nn.Dropout(dropout),
                                    nn.Conv2d(c_out, c_out, 3, padding=1))
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        # BEGIN SOLUTION res_block
        h = self.block1(x) + self.emb(emb)[:, :, None, None]
        return self.block2(h) + self.shortcut(x)
        # END SOLUTION


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions, with a residual connection."""

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, emb=None):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(h.transpose(-1, -2).reshape(B, C, H, W))


def Downsample(ch):
    return nn.Conv2d(ch, ch, 3, stride=2, padding=1)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


# the U-Net ------------------------------------------------------------------------------------

class UNet(nn.Module):
    """eps- (or v-) prediction U-Net conditioned on timestep t and class label y (label num_classes = null)."""

    def __init__(self, config: "UNetConfig | dict | None" = None, **kwargs):
        super().__init__()
        if isinstance(config, dict):
            config = UNetConfig(**config)
        cfg = self.config = config or UNetConfig(**kwargs)
        chs = [cfg.base * m for m in cfg.mults]
        emb_dim = 4 * cfg.base
        self.null_label = cfg.num_classes

        # time and class embeddings -> one vector per image
        self.time_emb = nn.Sequential(SinusoidalPosEmb(cfg.base), nn.Linear(cfg.base, emb_dim),
                                      nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(cfg.num_classes + 1, emb_dim)

        self.init_conv = nn.Conv2d(cfg.in_channels, chs[0], 3, padding=1)

        # encoder: at each level `blocks` ResBlocks (+ attention), then halve the resolution
        self.down, res, c = nn.ModuleList(), cfg.image_size, chs[0]
        skip_chs = []
        for i, ch in enumerate(chs):
            for _ in range(cfg.blocks):
                self.down.append(self._level(c, ch, emb_dim, res))
                c = ch
                skip_chs.append(c)
            if i < len(chs) - 1:
                self.down.append(Downsample(c))
                res //= 2

        # bottleneck
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim, cfg.dropout), Attention(c),
                                  ResBlock(c, c, emb_dim, cfg.dropout)]) \
            if res in cfg.attn_resolutions else nn.ModuleList([ResBlock(c, c, emb_dim, cfg.dropout)])

        # decoder: mirror image; each ResBlock takes the matching skip concatenated to its input
        self.up = nn.ModuleList()
        for i, ch in reversed(list(enumerate(chs))):
            for _ in range(cfg.blocks):
                self.up.append(self._level(c + skip_chs.pop(), ch, emb_dim, res))
                c = ch
            if i > 0:
                self.up.append(Upsample(c))
                res *= 2

        self.out = nn.Sequential(norm(c), nn.SiLU(), nn.Conv2d(c, cfg.in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def _level(self, c_in, c_out, emb_dim, res):
        block = [ResBlock(c_in, c_out, emb_dim, self.config.dropout)]
        if res in self.config.attn_resolutions:
            block.append(Attention(c_out))
        return nn.ModuleList(block)

    def embed(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) timesteps and (B,) labels -> (B, 4 * base) conditioning vector."""
        return self.time_emb(t) + self.class_emb(y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) noisy images in about [-3, 3]; t: (B,) long in 0..T-1;
        y: (B,) long in 0..num_classes (num_classes = unconditional). Returns eps_hat (B, C, H, W)."""
        cfg = self.config
        if x.dim() != 4 or x.shape[1:] != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(f"expected images of shape (B, {cfg.in_channels}, {cfg.image_size}, "
                             f"{cfg.image_size}), got {tuple(x.shape)}")
        B = x.shape[0]
        t, y = torch.as_tensor(t, device=x.device), torch.as_tensor(y, device=x.device)
        t, y = t.expand(B) if t.dim() == 0 else t, y.expand(B) if y.dim() == 0 else y
        if t.shape != (B,) or y.shape != (B,):
            raise ValueError(f"t and y must have shape ({B},), got {tuple(t.shape)} and {tuple(y.shape)}")
        if y.is_floating_point() or (y.numel() and (y.min() < 0 or y.max() > cfg.num_classes)):
            raise ValueError(f"class labels must lie in 0..{cfg.num_classes - 1} "
                             f"(or {cfg.num_classes} for 'no label'), got {y.min().item()}..{y.max().item()}")

        emb = self.embed(t, y)
        h = self.init_conv(x)
        skips = []
        for layer in self.down:
            if isinstance(layer, nn.ModuleList):
                h = run_level(layer, h, emb)
                skips.append(h)
            else:
                h = layer(h)
        h = run_level(self.mid, h, emb)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                s = skips.pop()
                h = run_level(layer, torch.cat([h, s if cfg.skips else torch.zeros_like(s)], 1), emb)
            else:
                h = layer(h, skips[-1].shape[-2:] if skips else x.shape[-2:])
        return self.out(h)


def run_level(layers: nn.ModuleList, h, emb):
    for layer in layers:
        h = layer(h, emb)
    return h


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def config_dict(cfg: UNetConfig) -> dict:
    """Plain-types dict (lists, not tuples) that survives torch.load(weights_only=True)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
