"""Time-to-quality (issue 8): the textbook DDPM recipe against the course's recipe, same data, same
machine, same run.

  baseline  fp32, linear schedule, Adam 2e-4, no EMA (ema_decay 0: the "EMA" copy is the raw weights),
            no warm-up, no label dropout (so no guidance), 1000-step ancestral DDPM sampling, the
            course U-Net at the same size
  ours      helpers' recipe: bf16 autocast, cosine schedule, AdamW 2e-3 with warm-up, label dropout 0.1,
            with the settings that pay under a short time budget on a CPU (measured, see RESULTS.md):
            the learning rate decays over the budget (TrainConfig(decay_over_time=True)), batch 32,
            EMA decay 0.99, min-SNR loss weighting (gamma 5), a U-Net that predicts v instead of eps
            (UNetConfig(prediction="v")); sampled with DPM-Solver++ and classifier-free guidance, or
            with autoguidance (Karras et al. 2024: the EMA weights as they were at a fraction of the
            budget guide the final ones, instead of the unconditional branch; rows "auto 1/3")

Each recipe trains from scratch for each wall-clock budget (minutes of training, evaluation time
excluded). The baseline's learning rate is constant, so one run stopped at each budget is the same as
one run per budget; ours decays its learning rate over the budget, so it trains once per budget. At
each budget: accuracy, the Fréchet distance on classifier features (with the real-vs-real value at the
same n), the "real ratio" (helpers.evaluate.real_ratio: the median over 5 reference draws of the
distance divided by that of n training digits to the same draw) and the kernel distance of n
generated digits. Then, for the final models, quality against
network evaluations per image (a guided step counts as 2: both passes run as one batch of 2N),
digits per second, and the time to generate 100 digits in one batch (samplers of at most 100 steps).

    python benchmarks/bench_recipes.py                           # budgets 2 5 10 20, n = 2000 (hours on 2 cores)
    python benchmarks/bench_recipes.py --budgets 2 5 --n 500     # a smaller run
    python benchmarks/bench_recipes.py --baseline-n 200          # fewer digits for the 1000-step sampler
    python benchmarks/bench_recipes.py --recipes ours            # one recipe
"""
import argparse
import copy
import time
from fractions import Fraction

import torch

import helpers
from helpers import TrainConfig, UNetConfig, mnist_tensors
from helpers.evaluate import evaluate_samples, real_ratio
from helpers.pipeline import Pipeline
from helpers.samplers import network_calls
from helpers.unet import machine

# (sampler, steps, guidance, bf16[, guide]); the first one also scores every training budget; guide: the
# fraction of the budget at which the EMA weights that autoguide this row were kept
RECIPES = {
    "baseline": dict(unet=UNetConfig(),
                     train=TrainConfig(schedule="linear", lr=2e-4, warmup_steps=1, ema_decay=0.0, p_uncond=0.0,
                                       bf16=False, grad_clip=0.0, epochs=1000, sample_steps=0),
                     samplers=[("ddpm", 1000, 1.0, False)]),
    "ours": dict(unet=UNetConfig(prediction="v"),
                 train=TrainConfig(epochs=1000, sample_steps=0, batch_size=32, ema_decay=0.99, decay_over_time=True,
                                   loss_weighting="min_snr"),
                 samplers=[("dpm++", 10, 2.0, True), ("dpm++", 10, 1.0, True), ("dpm++", 5, 2.0, True),
                           ("dpm++", 10, 1.5, True), ("dpm++", 10, 3.0, True), ("dpm++", 20, 2.0, True),
                           ("dpm++", 10, 1.5, True, 1 / 3), ("dpm++", 10, 2.0, True, 1 / 3),
                           ("dpm++", 10, 3.0, True, 1 / 3)]),
}
KEYS = ("accuracy", "fd", "fd_real", "fd_ratio", "kid")


def score(model, schedule, sampler, steps, guidance, bf16, n, guidance_interval=None, guide=None, seeds: int = 5):
    """Sample n digits (n / 10 of each, seed 0) and read them: evaluate_samples' KEYS and abstentions,
    the sampling rate, the ink, and real_ratio over `seeds` reference draws ("fd_median" its
    median distance, "fd_train" the training digits', "real_ratio")."""
    pipe = Pipeline(model, schedule, guidance, guide=guide)
    labels = torch.arange(10).repeat_interleave(n // 10)
    t0 = time.perf_counter()
    imgs = pipe.sample(labels, steps=steps, sampler=sampler, bf16=bf16, generator=torch.Generator().manual_seed(0),
                       guidance_interval=guidance_interval)
    per_s = len(labels) / (time.perf_counter() - t0)
    real = real_ratio(imgs, range(seeds))
    return {k: v for k, v in evaluate_samples(imgs, labels).items() if k in KEYS + ("abstained",)} | {
        "digits_per_s": per_s, "ink": imgs.mean().item(), "fd_median": real["fd"], "fd_train": real["fd_train"],
        "real_ratio": real["real_ratio"]}


class Trainer(helpers.Trainer):
    """helpers.Trainer that also keeps a copy of its EMA weights once each of `fractions` of its time
    budget is spent (the guides of the autoguidance rows): snapshots[fraction] -> UNet."""
    fractions: tuple = ()

    def train_step(self, *args, **kwargs):
        loss = super().train_step(*args, **kwargs)
        self.snapshots = getattr(self, "snapshots", {})
        for f in self.fractions:
            if f not in self.snapshots and self.elapsed >= f * self.config.max_minutes * 60:
                self.snapshots[f] = copy.deepcopy(self.ema)
        return loss


def seconds_for_100(model, schedule, sampler, steps, guidance, bf16, repeats=3, guidance_interval=None, guide=None):
    """Best of `repeats` wall-clock times to generate 100 digits (10 of each) in one batch."""
    pipe, best = Pipeline(model, schedule, guidance, guide=guide), float("inf")
    labels = torch.arange(10).repeat_interleave(10)
    for _ in range(repeats):
        t0 = time.perf_counter()
        pipe.sample(labels, steps=steps, sampler=sampler, bf16=bf16, generator=torch.Generator().manual_seed(1),
                    guidance_interval=guidance_interval)
        best = min(best, time.perf_counter() - t0)
    return best


def train_rows(name, recipe, budgets, n):
    """Train from scratch for each budget (a recipe whose learning rate decays over the budget restarts;
    one with a constant rate just trains on); score each with the recipe's first sampler.
    Returns (rows, the final trainer, the final score)."""
    x, y = mnist_tensors("train")
    sampler, steps, guidance, bf16 = recipe["samplers"][0]
    rows, trainer = [], None
    for minutes in budgets:
        if trainer is None or recipe["train"].decay_over_time:
            trainer = Trainer(recipe["unet"], recipe["train"])
            trainer.fractions = tuple(f for _, _, _, _, *f in recipe["samplers"] for f in f)
        trainer.config.max_minutes = minutes
        trainer.fit(x, y, progress=False)
        r = score(trainer.ema, trainer.schedule, sampler, steps, guidance, bf16, n)
        rows.append({"minutes": minutes, "steps": trainer.step, "nfe": network_calls(steps, guidance), **r,
                     "images_per_s": trainer.step * trainer.config.batch_size / trainer.elapsed})
        print(f"| {name} | {minutes:g} min | {trainer.step} steps | {rows[-1]['images_per_s']:.0f} img/s | "
              f"acc {r['accuracy']:.3f} | FD {r['fd']:.2f} (real {r['fd_real']:.2f}, ratio {r['fd_ratio']:.2f}) | "
              f"KID {r['kid']:.4f} |", flush=True)
    return rows, trainer, r


def sampling_rows(recipe, trainer, n, first):
    """Every sampler of the recipe on the final model (the first one's score is already known: `first`)."""
    out = []
    for k, (sampler, steps, guidance, bf16, *frac) in enumerate(recipe["samplers"]):
        if frac and frac[0] not in getattr(trainer, "snapshots", {}):
            raise RuntimeError(f"no guide for autoguidance: the budget ended before {frac[0]:.2f} of it was spent "
                               f"in whole steps ({trainer.step} steps in {trainer.elapsed:.1f} s); give a longer budget")
        guide = trainer.snapshots[frac[0]] if frac else None
        r = first if k == 0 else score(trainer.ema, trainer.schedule, sampler, steps, guidance, bf16, n, guide=guide)
        s100 = (seconds_for_100(trainer.ema, trainer.schedule, sampler, steps, guidance, bf16, guide=guide)
                if steps <= 100 else None)
        out.append({"sampler": sampler, "steps": steps, "guidance": guidance, "nfe": network_calls(steps, guidance),
                    "s_per_100": s100, "guide": f"auto {Fraction(frac[0]).limit_denominator(10)}" if frac else "CFG",
                    **r})
    return out


def first_reaching(rows, key, target):
    return min((r[key] for r in rows if r["accuracy"] >= target), default=None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", type=float, nargs="+", default=[2, 5, 10, 20])
    ap.add_argument("--n", type=int, default=2000, help="samples per evaluation (>= 2000 for the issue's table)")
    ap.add_argument("--baseline-n", type=int, default=None,
                    help="samples per evaluation of the baseline (default --n): its 1000-step sampler costs 1000 "
                         "network calls per digit, about an hour for 2000 digits on 2 cores")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    args = ap.parse_args()
    if sorted(args.budgets) != args.budgets or min(args.budgets) <= 0:
        ap.error("--budgets must be positive and increasing")
    n_of = {"baseline": args.baseline_n or args.n, "ours": args.n}
    print(f"machine: {machine()}, torch {torch.__version__}; n = {n_of}")
    results = {}
    for name in args.recipes:
        rows, trainer, last = train_rows(name, RECIPES[name], args.budgets, n_of[name])
        results[name] = {"train": rows, "sampling": sampling_rows(RECIPES[name], trainer, n_of[name], last)}

    print("\n## training: quality against wall-clock minutes (first sampler of each recipe)")
    print("| recipe | minutes | steps | train img/s | sampler | NFE | accuracy | Fréchet | real-vs-real | ratio | "
          "train digits | real ratio | KID |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        smp, st, g, _ = RECIPES[name]["samplers"][0]
        for r in res["train"]:
            print(f"| {name} | {r['minutes']:g} | {r['steps']} | {r['images_per_s']:.0f} | {smp} {st}, w {g:g} | "
                  f"{r['nfe']} | {r['accuracy']:.3f} | {r['fd']:.2f} | {r['fd_real']:.2f} | {r['fd_ratio']:.2f} | "
                  f"{r['fd_train']:.2f} | {r['real_ratio']:.2f} | {r['kid']:.4f} |")
    print(f"\n## sampling (final models, {args.budgets[-1]:g} min): quality against network evaluations per image")
    print("| recipe | sampler | steps | guide | guidance | NFE | accuracy | Fréchet ratio | real ratio | KID | digits/s | "
          "s per 100 digits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        for r in res["sampling"]:
            print(f"| {name} | {r['sampler']} | {r['steps']} | {r['guide']} | {r['guidance']:g} | {r['nfe']} | "
                  f"{r['accuracy']:.3f} | {r['fd_ratio']:.2f} | {r['real_ratio']:.2f} | {r['kid']:.4f} | {r['digits_per_s']:.1f} | "
                  f"{'-' if r['s_per_100'] is None else format(r['s_per_100'], '.2f')} |")
    if len(results) == 2:
        t_b, t_o = (first_reaching(results[k]["train"], "minutes", 0.98) for k in ("baseline", "ours"))
        e_b, e_o = (first_reaching(results[k]["sampling"], "nfe", 0.98) for k in ("baseline", "ours"))
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "n/a (not reached by both)"
        print(f"\ntime to 98% accuracy: ours {t_o} min, baseline {t_b} min, ratio ours/baseline {ratio(t_o, t_b)}")
        print(f"evaluations per image for 98%: ours {e_o}, baseline {e_b}, ratio ours/baseline {ratio(e_o, e_b)}")


if __name__ == "__main__":
    main()
