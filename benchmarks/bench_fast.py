"""Few network calls per digit (issue 27, target 2): the shipped model against its distilled version.

A network call is one U-Net evaluation per digit: a guided step costs 2 (both passes, batched), a
step of the distilled model 1 (its guidance is built in). Every row samples the same n digits (n / 10
of each, seed 0) and reads them with the course's judge (an abstention counts as wrong) and against
real digits: "Fréchet" is the median over --reference-seeds draws of n test digits, "train digits"
the median distance of n *training* digits to the same draws, and "real ratio" the median of the two's
ratio (helpers.evaluate.real_ratio): 1 means as close to the test digits as real digits are.
The time is that of 100 digits in one batch (best of three).

    python benchmarks/bench_fast.py                       # n = 2000, every row
    python benchmarks/bench_fast.py --n 500 --rows fast   # the distilled model only
    python benchmarks/bench_fast.py --fast runs/fast4.pt  # another distilled checkpoint
"""
import argparse

import torch

from bench_recipes import score, seconds_for_100
from helpers import load_pipeline
from helpers.samplers import network_calls
from helpers.unet import machine

# (name, model, sampler, steps, guidance): "shipped" is data/ddpm_mnist.pt, "fast" the distilled model
ROWS = [("teacher", "shipped", "dpm++", 12, 1.5), ("shipped-2", "shipped", "dpm++", 2, 1.5),
        ("shipped-4", "shipped", "dpm++", 4, 1.0), ("shipped-1", "shipped", "dpm++", 1, 1.0),
        ("fast", "fast", "ddim", 4, 1.0), ("fast-2", "fast", "ddim", 2, 1.0), ("fast-1", "fast", "ddim", 1, 1.0)]


def measure(pipe, sampler: str, steps: int, guidance: float, n: int, seeds: int) -> dict:
    return score(pipe.model, pipe.schedule, sampler, steps, guidance, True, n, seeds=seeds) | {
        "s100": seconds_for_100(pipe.model, pipe.schedule, sampler, steps, guidance, True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reference-seeds", type=int, default=5)
    ap.add_argument("--fast", default="fast", help="the distilled checkpoint (default: data/ddpm_mnist_fast.pt)")
    ap.add_argument("--rows", nargs="+", default=[r[0] for r in ROWS], choices=[r[0] for r in ROWS])
    args = ap.parse_args()
    pipes = {"shipped": load_pipeline(), "fast": load_pipeline(args.fast)}
    print(f"machine: {machine()}, torch {torch.__version__}; n = {args.n // 10 * 10}, "
          f"{args.reference_seeds} reference draws")
    print("| row | model | sampler | steps | guidance | calls | accuracy | abstained | Fréchet | train digits | "
          "real ratio | KID | s per 100 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, model, sampler, steps, w in ROWS:
        if name not in args.rows:
            continue
        pipe = pipes[model]
        r = measure(pipe, sampler, steps, w, args.n, args.reference_seeds)
        calls = network_calls(steps, w)
        print(f"| {name} | {model} | {sampler} | {steps} | {w:g} | {calls} | {r['accuracy']:.4f} | {r['abstained']:.4f} | "
              f"{r['fd_median']:.2f} | {r['fd_train']:.2f} | {r['real_ratio']:.2f} | {r['kid']:.4f} | {r['s100']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
