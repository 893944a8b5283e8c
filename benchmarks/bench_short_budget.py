"""Which settings pay under a short wall-clock budget on a CPU (issue 8's list of ideas), one
variant at a time: train from scratch for --minutes, then score the EMA and the raw weights with
DPM-Solver++ (10 steps) at several guidance scales (accuracy, Fréchet ratio, kernel distance).

    python benchmarks/bench_short_budget.py                        # every variant, 10 min each (~2 h)
    python benchmarks/bench_short_budget.py --variants b32 b64     # some of them
    python benchmarks/bench_short_budget.py --variants b32 --seed 1   # another training seed
    python benchmarks/bench_short_budget.py --variants b32-min-snr b32-min-snr-v --weights EMA

Run it alone: the budget is wall-clock time, so anything else running steals training steps.
"""
import argparse

from bench_recipes import score
from helpers import Trainer, TrainConfig, UNetConfig, mnist_tensors

# name: (U-Net overrides, TrainConfig overrides); every variant trains under max_minutes
VARIANTS = {
    "constant": ({}, dict(decay_over_time=False)),               # lr constant after warm-up (03's setting)
    "decay": ({}, {}),                                           # lr cosine-decayed over the budget
    "small": (dict(base=16, mults=(1, 4, 4)), {}),               # fewer channels at 28x28
    "b64": ({}, dict(batch_size=64)),
    "b64-ema.99": ({}, dict(batch_size=64, ema_decay=0.99)),
    "b32": ({}, dict(batch_size=32)),
    "b32-ema.99": ({}, dict(batch_size=32, ema_decay=0.99)),
    "min-snr": ({}, dict(loss_weighting="min_snr")),
    "b32-min-snr": ({}, dict(batch_size=32, loss_weighting="min_snr")),   # beside b32: the 10-min recipe's batch
    "b32-min-snr-v": (dict(prediction="v"), dict(batch_size=32, loss_weighting="min_snr")),  # v-prediction
    "b32-v": (dict(prediction="v"), dict(batch_size=32)),        # v-prediction with its plain v-MSE
}
BASE = dict(epochs=1000, sample_steps=0, decay_over_time=True)


def run_variant(name, minutes, guidances, n, seed=0, weights=("EMA", "raw")):
    unet, train = VARIANTS[name]
    trainer = Trainer(UNetConfig(**unet), TrainConfig(**{**BASE, **train, "max_minutes": minutes, "seed": seed}))
    trainer.fit(*mnist_tensors("train"), progress=False)
    img_s = trainer.step * trainer.config.batch_size / trainer.elapsed
    for which, model in (("EMA", trainer.ema), ("raw", trainer.model)):
        if which not in weights:
            continue
        for w in guidances:
            r = score(model, trainer.schedule, "dpm++", 10, w, True, n)
            print(f"| {name} | {trainer.step} | {img_s:.0f} | {which} | {w:g} | {r['accuracy']:.3f} | "
                  f"{r['fd_ratio']:.2f} | {r['kid']:.4f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2, 3])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="training seed: initial weights, batch order, noise")
    ap.add_argument("--weights", nargs="+", default=["EMA", "raw"], choices=["EMA", "raw"],
                    help="which weights to score (each set costs one sampling run per scale)")
    args = ap.parse_args()
    print(f"{args.minutes:g} min of training per variant, seed {args.seed}; DPM-Solver++ 10 steps, n = {args.n}")
    print("| variant | steps | train img/s | weights | guidance | accuracy | Fréchet ratio | KID |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.variants:
        run_variant(name, args.minutes, args.guidance, args.n, args.seed, args.weights)


if __name__ == "__main__":
    main()
