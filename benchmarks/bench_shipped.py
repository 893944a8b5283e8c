"""The shipped checkpoint (data/ddpm_mnist.pt) against issue 8's targets: accuracy, Fréchet distance on
classifier features (with the real-vs-real value at the same n) and kernel distance, per guidance scale.

    python benchmarks/bench_shipped.py                               # n = 2000, DPM-Solver++ 20 steps, w 1.5 2 3
    python benchmarks/bench_shipped.py --sampler ddim --steps 50     # the checkpoint's default sampler (slower)
"""
import argparse
import time

import torch

from helpers import load_pipeline
from helpers.evaluate import evaluate_samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--sampler", default="dpm++")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2, 3])
    ap.add_argument("--checkpoint", default=None, help="default: the checkpoint shipped in data/")
    args = ap.parse_args()
    pipe = load_pipeline(args.checkpoint)
    labels = torch.arange(10).repeat_interleave(args.n // 10)
    print(f"{args.sampler}, {args.steps} steps, n = {len(labels)}")
    print("| guidance | accuracy | Fréchet | real-vs-real | ratio | KID | digits/s |\n|---|---|---|---|---|---|---|")
    for w in args.guidance:
        t0 = time.perf_counter()
        x = pipe.sample(labels, steps=args.steps, guidance=w, sampler=args.sampler,
                        generator=torch.Generator().manual_seed(0))
        per_s = len(labels) / (time.perf_counter() - t0)
        r = evaluate_samples(x, labels)
        print(f"| {w:g} | {r['accuracy']:.4f} | {r['fd']:.2f} | {r['fd_real']:.2f} | {r['fd_ratio']:.2f} | "
              f"{r['kid']:.4f} | {per_s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
