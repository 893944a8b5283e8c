"""The shipped checkpoint (data/ddpm_mnist.pt) against issue 8's targets: accuracy, Fréchet distance on
classifier features (with the real-vs-real value at the same n) and kernel distance, per guidance scale,
guiding every step or only inside a window of timesteps (--interval), and how much ink the digits carry
against real ones (mean pixel value over the class-balanced test set).

First it prints how much the Fréchet distance of *real* digits varies with the draw at this n: two test
sets per seed, and training digits against the test reference that generated digits are compared with
(a generator that reproduced the training distribution exactly would score about that). "real ratio" is
the median over 5 reference draws of the generated digits' distance over that of training digits
(helpers.evaluate.real_ratio); "ratio" divides by one pair of real test sets.

    python benchmarks/bench_shipped.py                               # n = 2000, DPM-Solver++ 20 steps, w 1.5 2 3
    python benchmarks/bench_shipped.py --sampler ddim --steps 50     # the checkpoint's default sampler (slower)
    python benchmarks/bench_shipped.py --interval 0 600 --guidance 2 3   # guide only at t <= 600
    python benchmarks/bench_shipped.py --fp32                        # sample without bf16 autocast (2x slower)
    python benchmarks/bench_shipped.py --steps 2 --guidance 1.5 --n 1000 --reference-seeds 0   # few steps

Each row ends with the wall-clock time of 100 digits generated in one batch (best of three).
"""
import argparse
import statistics

from bench_recipes import score, seconds_for_100
from helpers import load_pipeline, mnist_tensors
from helpers.evaluate import reference_spread
from helpers.samplers import make_sampler, network_calls


def print_reference(n: int, seeds: int):
    r = reference_spread(n, range(seeds))
    print(f"real digits at n = {n}, {seeds} draws: Fréchet distance (min / median / max)")
    print("| pair | min | median | max | seed 0 |\n|---|---|---|---|---|")
    for key, name in (("real_vs_real", "test vs test (disjoint)"), ("train_vs_ref", "train vs the test reference")):
        v = r[key]
        print(f"| {name} | {min(v):.2f} | {statistics.median(v):.2f} | {max(v):.2f} | {v[0]:.2f} |")
    print()


def real_ink() -> float:
    """Mean pixel value in [0, 1] of the test digits, each digit weighted equally (as in the generated sets)."""
    x, y = mnist_tensors("test")
    return sum(x[y == d].add(1).div(2).mean().item() for d in range(10)) / 10


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--sampler", default="dpm++")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2, 3])
    ap.add_argument("--interval", type=int, nargs=2, default=None, metavar=("LO", "HI"),
                    help="guide only at timesteps LO <= t <= HI (plain conditional steps elsewhere)")
    ap.add_argument("--reference-seeds", type=int, default=8, help="draws of real digits for the spread (0: skip)")
    ap.add_argument("--checkpoint", default=None, help="default: the checkpoint shipped in data/")
    ap.add_argument("--fp32", action="store_true", help="sample in fp32 instead of under bf16 autocast")
    args = ap.parse_args()
    pipe = load_pipeline(args.checkpoint)
    if args.reference_seeds:
        print_reference(args.n // 10 * 10, args.reference_seeds)
    timesteps = make_sampler(args.sampler, pipe.schedule, args.steps).timesteps
    window = "every step" if args.interval is None else f"t in [{args.interval[0]}, {args.interval[1]}]"
    ink = real_ink()
    print(f"{args.sampler}, {args.steps} steps, guidance at {window}, n = {args.n // 10 * 10}, "
          f"{'fp32' if args.fp32 else 'bf16 autocast'}; ink: generated / real ({ink:.4f})")
    print("| guidance | NFE | accuracy | Fréchet | real-vs-real | ratio | real ratio | KID | ink | digits/s | "
          "s per 100 digits |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for w in args.guidance:
        r = score(pipe.model, pipe.schedule, args.sampler, args.steps, w, not args.fp32, args.n, args.interval)
        s100 = seconds_for_100(pipe.model, pipe.schedule, args.sampler, args.steps, w, not args.fp32,
                               guidance_interval=args.interval)
        print(f"| {w:g} | {network_calls(timesteps, w, args.interval)} | {r['accuracy']:.4f} | {r['fd']:.2f} | "
              f"{r['fd_real']:.2f} | {r['fd_ratio']:.2f} | {r['real_ratio']:.2f} | {r['kid']:.4f} | {r['ink'] / ink:.2f} | "
              f"{r['digits_per_s']:.1f} | {s100:.2f} |", flush=True)


if __name__ == "__main__":
    main()
