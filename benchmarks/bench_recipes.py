"""Time-to-quality (issue 8): the textbook DDPM recipe against the course's recipe, same data, same
machine, same run.

  baseline  fp32, linear schedule, Adam 2e-4, no EMA (ema_decay 0: the "EMA" copy is the raw weights), no warm-up, no label dropout (so no guidance),
            1000-step ancestral DDPM sampling, the course U-Net at the same size
  ours      helpers' defaults: bf16 autocast, cosine schedule, AdamW 2e-3 with warm-up, EMA,
            label dropout 0.1; sampled with DPM-Solver++ / DDIM and classifier-free guidance

Each recipe trains from scratch; at each wall-clock budget (minutes of training, evaluation time
excluded) it samples n digits and reports accuracy, the Fréchet distance on classifier features
(with the real-vs-real value at the same n) and the kernel distance. Then, for the final models,
quality against network evaluations per image (a guided step counts as 2: both passes run as one
batch of 2N) and digits per second.

    python benchmarks/bench_recipes.py                           # budgets 2 5 10 20, n = 2000 (hours on 2 cores)
    python benchmarks/bench_recipes.py --budgets 2 5 --n 500     # a smaller run
    python benchmarks/bench_recipes.py --baseline-n 200          # fewer digits for the 1000-step sampler
"""
import argparse
import platform
import time

import torch

from helpers import Trainer, TrainConfig, UNetConfig, mnist_tensors
from helpers.evaluate import evaluate_samples
from helpers.pipeline import Pipeline

RECIPES = {
    "baseline": dict(train=TrainConfig(schedule="linear", lr=2e-4, warmup_steps=1, ema_decay=0.0, p_uncond=0.0,
                                       bf16=False, grad_clip=0.0, epochs=1000, sample_steps=0),
                     samplers=[("ddpm", 1000, 1.0, False)]),
    "ours": dict(train=TrainConfig(epochs=1000, sample_steps=0),
                 samplers=[("dpm++", 5, 1.5, True), ("dpm++", 10, 1.5, True), ("dpm++", 20, 1.5, True),
                           ("ddim", 50, 1.5, True), ("dpm++", 10, 1.0, True)]),
}


def nfe(steps: int, guidance: float) -> int:
    return steps * (1 if guidance == 1 else 2)


def score(trainer, sampler, steps, guidance, bf16, n):
    pipe = Pipeline(trainer.ema, trainer.schedule, guidance)
    labels = torch.arange(10).repeat_interleave(n // 10)
    t0 = time.perf_counter()
    imgs = pipe.sample(labels, steps=steps, sampler=sampler, bf16=bf16, generator=torch.Generator().manual_seed(0))
    per_s = len(labels) / (time.perf_counter() - t0)
    r = evaluate_samples(imgs, labels)
    return r | {"digits_per_s": per_s}


def first_reaching(rows, key, target):
    hits = [r for r in rows if r["accuracy"] >= target]
    return min((r[key] for r in hits), default=None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", type=float, nargs="+", default=[2, 5, 10, 20])
    ap.add_argument("--n", type=int, default=2000, help="samples per evaluation (>= 2000 for the issue's table)")
    ap.add_argument("--baseline-n", type=int, default=None,
                    help="samples per evaluation of the baseline (default --n): its 1000-step sampler costs 1000 "
                         "network calls per digit, about an hour for 2000 digits on 2 cores")
    args = ap.parse_args()
    x, y = mnist_tensors("train")
    n_of = {"baseline": args.baseline_n or args.n, "ours": args.n}
    print(f"machine: {platform.machine()} {platform.processor()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; n = {n_of}")
    results = {}
    for name, recipe in RECIPES.items():
        trainer = Trainer(UNetConfig(), recipe["train"])
        rows = []
        for minutes in args.budgets:
            trainer.config.max_minutes = minutes
            trainer.fit(x, y, progress=False)
            sampler, steps, guidance, bf16 = recipe["samplers"][0]
            r = score(trainer, sampler, steps, guidance, bf16, n_of[name])
            rows.append({"minutes": minutes, "images_per_s": trainer.step * trainer.config.batch_size / trainer.elapsed,
                         "nfe": nfe(steps, guidance), **{k: r[k] for k in ("accuracy", "fd", "fd_real", "kid")}})
            print(f"| {name} | {minutes:g} min | {rows[-1]['images_per_s']:.0f} img/s | acc {r['accuracy']:.3f} | "
                  f"FD {r['fd']:.1f} (real {r['fd_real']:.1f}, ratio {r['fd_ratio']:.2f}) | KID {r['kid']:.4f} |",
                  flush=True)
        sampling, last = [], r                      # the first sampler was just scored on the final model
        for k, (sampler, steps, guidance, bf16) in enumerate(recipe["samplers"]):
            r = last if k == 0 else score(trainer, sampler, steps, guidance, bf16, n_of[name])
            sampling.append({"sampler": sampler, "steps": steps, "guidance": guidance, "nfe": nfe(steps, guidance),
                             **{k: r[k] for k in ("accuracy", "fd", "fd_ratio", "kid", "digits_per_s")}})
        results[name] = {"train": rows, "sampling": sampling}

    print("\n## training: quality against wall-clock minutes")
    print("| recipe | minutes | train img/s | accuracy | Fréchet | real-vs-real | ratio | KID |\n|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        for r in res["train"]:
            print(f"| {name} | {r['minutes']:g} | {r['images_per_s']:.0f} | {r['accuracy']:.3f} | {r['fd']:.1f} | "
                  f"{r['fd_real']:.1f} | {r['fd'] / r['fd_real']:.2f} | {r['kid']:.4f} |")
    print("\n## sampling (final models): quality against network evaluations per image")
    print("| recipe | sampler | steps | guidance | NFE | accuracy | Fréchet ratio | KID | digits/s |\n|---|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        for r in res["sampling"]:
            print(f"| {name} | {r['sampler']} | {r['steps']} | {r['guidance']} | {r['nfe']} | {r['accuracy']:.3f} | "
                  f"{r['fd_ratio']:.2f} | {r['kid']:.4f} | {r['digits_per_s']:.1f} |")
    t_b, t_o = (first_reaching(results[k]["train"], "minutes", 0.98) for k in ("baseline", "ours"))
    e_b, e_o = (first_reaching(results[k]["sampling"], "nfe", 0.98) for k in ("baseline", "ours"))
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "n/a (not reached)"
    print(f"\ntime to 98% accuracy: ours {t_o} min, baseline {t_b} min, ratio ours/baseline {ratio(t_o, t_b)}")
    print(f"evaluations per image for 98%: ours {e_o}, baseline {e_b}, ratio ours/baseline {ratio(e_o, e_b)}")


if __name__ == "__main__":
    main()
