"""Core benchmark: training and sampling throughput on this machine, fp32 against bf16 autocast in
the same run. Accuracy after 2, 5, 10 (and 20) minutes of training from scratch is measured by
bench_recipes.py (its "ours" rows), beside the textbook recipe.

    python benchmarks/bench_core.py                 # about a minute on 2 cores

Prints a table; figures are ratios measured in one run where possible (shared machines are noisy).
"""
import argparse
import platform
import time

import torch

from helpers import UNet, UNetConfig
from helpers.pipeline import Pipeline
from helpers.schedule import NoiseSchedule
from helpers.train import diffusion_loss
from helpers.utils import autocast


def train_throughput(cfg: UNetConfig, bf16: bool, batch: int = 128, steps: int = 8) -> float:
    """Training images/s of the U-Net (forward + backward + AdamW), after 2 warm-up steps."""
    torch.manual_seed(0)
    model, schedule = UNet(cfg), NoiseSchedule()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    y, t = torch.randint(0, 10, (batch,)), torch.randint(0, 1000, (batch,))
    cpu = torch.device("cpu")
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        with autocast(cpu, bf16):
            loss = diffusion_loss(model, schedule, x, y, t, torch.randn_like(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def sample_throughput(pipe: Pipeline, bf16: bool, n: int = 100, steps: int = 50, guidance=None) -> float:
    t0 = time.perf_counter()
    pipe.sample(torch.arange(n) % 10, steps=steps, guidance=guidance, bf16=bf16,
                generator=torch.Generator().manual_seed(0))
    return n / (time.perf_counter() - t0)


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    cfg = UNetConfig()
    fp32, bf16 = train_throughput(cfg, False), train_throughput(cfg, True)
    print("\n| training (default U-Net, batch 128) | images/s |\n|---|---|")
    print(f"| fp32 | {fp32:.0f} |\n| bf16 autocast | {bf16:.0f} |\n| ratio bf16 / fp32 | {bf16 / fp32:.2f} |")
    try:
        from helpers import load_pipeline
        pipe = load_pipeline()
        s32, s16 = sample_throughput(pipe, False), sample_throughput(pipe, True)
        print("\n| sampling (shipped model, DDIM 50 steps, 100 digits) | images/s |\n|---|---|")
        print(f"| fp32 | {s32:.1f} |\n| bf16 autocast | {s16:.1f} |\n| ratio bf16 / fp32 | {s16 / s32:.2f} |")
    except FileNotFoundError as e:
        print(f"(sampling skipped: {e})")


if __name__ == "__main__":
    main()
