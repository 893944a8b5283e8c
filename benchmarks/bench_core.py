"""Core benchmark: training and sampling throughput on this machine, fp32 against bf16 autocast in
the same run (bf16 forced on for its rows, whatever helpers.unet.bf16_pays guesses; the table ends
with what the course picks here). Accuracy after 2, 5, 10 (and 20) minutes of training from scratch is measured by
bench_recipes.py (its "ours" rows), beside the textbook recipe.

    python benchmarks/bench_core.py                 # about a minute on 2 cores
    python benchmarks/bench_core.py --compile       # + eager vs torch.compile vs channels_last

Prints a table; figures are ratios measured in one run where possible (shared machines are noisy).
"""
import argparse
import os
from contextlib import contextmanager
import time

import torch

from helpers import UNet
from helpers.pipeline import Pipeline
from helpers.schedule import NoiseSchedule
from helpers.train import diffusion_loss
from helpers.unet import autocast, bf16_pays, machine


@contextmanager
def forced(bf16: bool):
    """Force bf16 autocast on or off in helpers (COURSE_BF16) inside the block, so both rows measure
    what they name whatever helpers.unet.bf16_pays would pick; the setting is restored after."""
    before = os.environ.get("COURSE_BF16")
    os.environ["COURSE_BF16"] = "1" if bf16 else "0"
    try:
        yield
    finally:
        os.environ.pop("COURSE_BF16") if before is None else os.environ.update(COURSE_BF16=before)


def train_throughput(model, bf16: bool, batch: int = 128, steps: int = 8):
    """Training images/s of a U-Net (forward + backward + AdamW) after 2 warm-up steps, and the seconds
    those 2 steps took (where torch.compile compiles)."""
    torch.manual_seed(0)
    schedule, cpu = NoiseSchedule(), torch.device("cpu")
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, 28, 28)
    y, t = torch.randint(0, 10, (batch,)), torch.randint(0, 1000, (batch,))
    with forced(bf16):
        start = time.perf_counter()
        for i in range(steps + 2):
            if i == 2:
                t0 = time.perf_counter()
            with autocast(cpu, bf16):
                loss = diffusion_loss(model, schedule, x, y, t, torch.randn_like(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return steps * batch / (time.perf_counter() - t0), t0 - start


@torch.no_grad()
def forward_throughput(model, batch: int = 200, calls: int = 10):
    """Inference forward passes per second (bf16, one sampling step's batch) after 2 warm-up calls,
    and the seconds those 2 calls took."""
    x, y, t = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,)), torch.full((batch,), 500)
    start = time.perf_counter()
    with forced(True), autocast(torch.device("cpu"), True):
        for i in range(calls + 2):
            if i == 2:
                t0 = time.perf_counter()
            model(x, t, y)
    return calls * batch / (time.perf_counter() - t0), t0 - start


def compile_table(batch: int = 64):
    """Eager against torch.compile and channels_last, bf16, in one run."""
    make = {"eager": lambda m: m, "torch.compile": torch.compile,
            "channels_last": lambda m: m.to(memory_format=torch.channels_last)}
    rows = {name: (train_throughput(f(UNet()), True, batch), forward_throughput(f(UNet().eval())))
            for name, f in make.items()}
    (tr0, _), (fw0, _) = rows["eager"]
    print(f"\n| bf16, default U-Net | train img/s (batch {batch}) | first 2 steps, s | sampling forwards/s "
          f"(batch 200) | first 2 calls, s |\n|---|---|---|---|---|")
    for name, ((tr, tr_w), (fw, fw_w)) in rows.items():
        print(f"| {name} | {tr:.0f} ({tr / tr0:.2f}x) | {tr_w:.1f} | {fw:.0f} ({fw / fw0:.2f}x) | {fw_w:.1f} |")


def sample_throughput(pipe: Pipeline, bf16: bool, n: int = 100, steps: int = 50, guidance=None) -> float:
    t0 = time.perf_counter()
    with forced(bf16):
        pipe.sample(torch.arange(n) % 10, steps=steps, guidance=guidance, bf16=bf16,
                    generator=torch.Generator().manual_seed(0))
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compile", action="store_true",
                    help="also eager vs torch.compile vs channels_last (about 2 minutes more: compiling)")
    args = ap.parse_args()
    print(f"machine: {machine()}, torch {torch.__version__}")
    (fp32, _), (bf16, _) = train_throughput(UNet(), False), train_throughput(UNet(), True)
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
    if args.compile:
        compile_table()
    print(f"\nhelpers uses bf16 autocast on this CPU: {bf16_pays(torch.device('cpu'))} (helpers.unet.bf16_pays)")


if __name__ == "__main__":
    main()
