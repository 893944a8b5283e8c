"""The shipped checkpoint (data/ddpm_mnist.pt) against issue 8's targets: accuracy, Fréchet distance on
classifier features (with the real-vs-real value at the same n) and kernel distance, per guidance scale.

    python benchmarks/bench_shipped.py                               # n = 2000, DPM-Solver++ 20 steps, w 1.5 2 3
    python benchmarks/bench_shipped.py --sampler ddim --steps 50     # the checkpoint's default sampler (slower)
"""
import argparse

from bench_recipes import score
from helpers import load_pipeline


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--sampler", default="dpm++")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2, 3])
    ap.add_argument("--checkpoint", default=None, help="default: the checkpoint shipped in data/")
    args = ap.parse_args()
    pipe = load_pipeline(args.checkpoint)
    print(f"{args.sampler}, {args.steps} steps, n = {args.n // 10 * 10}")
    print("| guidance | accuracy | Fréchet | real-vs-real | ratio | KID | digits/s |\n|---|---|---|---|---|---|---|")
    for w in args.guidance:
        r = score(pipe.model, pipe.schedule, args.sampler, args.steps, w, True, args.n)
        print(f"| {w:g} | {r['accuracy']:.4f} | {r['fd']:.2f} | {r['fd_real']:.2f} | {r['fd_ratio']:.2f} | "
              f"{r['kid']:.4f} | {r['digits_per_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
