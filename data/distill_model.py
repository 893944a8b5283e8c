"""Distil the shipped model into a few-step one: data/ddpm_mnist_fast.pt (issue 27).

The teacher (data/ddpm_mnist.pt) samples with classifier-free guidance (two network passes per step)
and DPM-Solver++ in --teacher-steps steps. The student, a copy of the teacher's U-Net started from its
weights, learns to take the same path in --steps deterministic DDIM steps of one pass each:

1. Trajectories: n digits (n / 10 of each) from seeded noise x_T, sampled by the guided teacher; the
   teacher's x at each of the student's timesteps is kept (the student's grid must be part of the
   teacher's: 4 trailing steps t = 999, 749, 499, 249 lie on the 12-step grid).
2. Training: from a teacher point x_t at a student timestep t, the target is the x0 with which one
   DDIM step lands on the teacher's point at the next student timestep s
   (NoiseSchedule.x0_landing_on: Salimans & Ho's progressive-distillation target, here over a whole
   segment of the teacher's path at once), as the v the student predicts. Guidance is distilled with
   it (Meng et al. 2023): the student is called with the label alone, one pass per step.

    python data/distill_model.py                               # 10,000 trajectories, then the student
    python data/distill_model.py --n 2000 --train-steps 200 --out /tmp/fast.pt   # a quick try
    python data/distill_model.py --steps 1 --init data/ddpm_mnist_fast.pt --out runs/one_step.pt
                                                    # one call per digit, started from the 4-step student

The trajectories are cached in runs/ (--trajectories), so a second student reuses them (a 4-step set
serves a 2- or 1-step student too). The shipped
file keeps the EMA weights, the configuration, the recipe, the wall-clock times, the machine, and
{"sampler": "ddim", "steps": --steps, "guidance": 1}: helpers.load_pipeline("fast") samples with it.
"""
import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from helpers.checkpoint import DATA_DIR, DIFFUSION, ROOT, load_checkpoint, save_atomic
from helpers.pipeline import DEFAULT_CHECKPOINT, load_pipeline
from helpers.samplers import denoise, make_sampler
from helpers.train import ema_update
from helpers.unet import autocast, bf16_pays, config_dict, machine

FAST_CHECKPOINT = DATA_DIR / "ddpm_mnist_fast.pt"


def student_grid(schedule, steps: int, teacher_steps: int) -> list:
    """The student's timesteps (DDIM's trailing grid), checked to lie on the teacher's grid."""
    grid = make_sampler("ddim", schedule, steps).timesteps.tolist()
    teacher = set(make_sampler("dpm++", schedule, teacher_steps).timesteps.tolist())
    if not set(grid) <= teacher:
        raise ValueError(f"the student's timesteps {grid} must lie on the teacher's {teacher_steps}-step grid: "
                         f"choose --teacher-steps a multiple of --steps")
    return grid


@torch.no_grad()
def trajectories(pipe, n: int, grid: list, teacher_steps: int, guidance: float, seed: int = 0,
                 chunk: int = 64) -> dict:
    """The guided teacher's path through the student's timesteps for n digits (n / 10 of each, in
    random order). Returns {"y": (n,), "grid": [t_0 .. t_{K-1}], "x": (K + 1, n, C, H, W)}: x[0] is
    x_T, x[k] the teacher's x at grid[k], x[K] its finished digit in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat(n // 10)[torch.randperm(n // 10 * 10, generator=g)]
    x_T = pipe.noise(len(y), g)
    keep = set(grid[1:]) | {-1}
    sampler, denoiser = make_sampler("dpm++", pipe.schedule, teacher_steps), pipe.denoiser()
    points = []
    for s in tqdm(range(0, len(y), chunk), desc=f"teacher ({teacher_steps} steps, w {guidance:g})"):
        path = [x_T[s:s + chunk]]
        for step in denoise(denoiser, sampler, x_T[s:s + chunk], y[s:s + chunk], guidance=guidance):
            if step.t_prev in keep:
                path.append(step.x.clamp(-1, 1) if step.t_prev < 0 else step.x)
        points.append(torch.stack(path).cpu())
    return {"y": y, "grid": grid, "x": torch.cat(points, 1)}


def on_grid(data: dict, grid: list) -> dict:
    """The same paths on a coarser student grid (a subset of data["grid"]): 4-step paths serve 2 and 1 steps."""
    rows = [data["grid"].index(t) for t in grid] + [len(data["grid"])]
    return {"y": data["y"], "grid": list(grid), "x": data["x"][rows]}


def segment_batch(data: dict, schedule, idx: torch.Tensor, k: torch.Tensor):
    """For digits idx (B,) at student steps k (B,): (x_t, t, y, the v target that lands on the next point)."""
    grid = torch.tensor(data["grid"] + [-1])
    t, s = grid[k], grid[k + 1]
    x_t, x_s = data["x"][k, idx], data["x"][k + 1, idx]
    x0 = schedule.x0_landing_on(x_t, t, x_s, s)
    eps = schedule.predict_eps(x_t, x0, t)
    return x_t, t, data["y"][idx], schedule.target(x0, eps, t, "v")


def train_student(start, schedule, data: dict, steps: int, batch_size: int = 64, lr: float = 2e-4,
                  ema_decay: float = 0.995, seed: int = 0, holdout: int = 500):
    """Fine-tune a copy of `start` (the teacher, or a student of more steps) on the trajectories (all
    but the last `holdout`, kept to measure the student's gap to the teacher); cosine-decayed
    learning rate. Returns the EMA copy and a history of (step, train loss, held-out loss)."""
    if start.config.prediction != "v":
        raise ValueError("the student predicts v, like the shipped teacher; got a start model that predicts "
                         f"{start.config.prediction!r}")
    student = copy.deepcopy(start).train().requires_grad_(True)
    ema = copy.deepcopy(start).eval().requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=lr)
    n, K = data["x"].shape[1] - holdout, len(data["grid"])
    g = torch.Generator().manual_seed(seed)
    dev, bf16 = next(start.parameters()).device, bf16_pays(next(start.parameters()).device)
    held = segment_batch(data, schedule, torch.arange(n, n + holdout).repeat(K),
                         torch.arange(K).repeat_interleave(holdout))
    history, bar = [], tqdm(range(steps), desc="student")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        idx, k = torch.randint(0, n, (batch_size,), generator=g), torch.randint(0, K, (batch_size,), generator=g)
        x_t, t, y, v = (a.to(dev) for a in segment_batch(data, schedule, idx, k))
        with autocast(dev, bf16):
            loss = F.mse_loss(student(x_t, t, y).float(), v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        ema_update(ema, student, ema_decay, step)
        if (step + 1) % 250 == 0 or step + 1 == steps:
            history.append((step + 1, loss.item(), held_out_loss(ema, held)))
            bar.set_postfix(loss=f"{history[-1][1]:.4f}", held_out=f"{history[-1][2]:.4f}")
    return ema, history


@torch.no_grad()
def held_out_loss(model, held) -> float:
    x_t, t, y, v = held
    dev = next(model.parameters()).device
    with autocast(dev, bf16_pays(dev)):
        return sum(F.mse_loss(model(x_t[s:s + 500].to(dev), t[s:s + 500].to(dev), y[s:s + 500].to(dev)).float(),
                              v[s:s + 500].to(dev), reduction="sum").item()
                   for s in range(0, len(y), 500)) / v.numel()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4, help="the student's sampling steps (network calls per digit)")
    ap.add_argument("--teacher-steps", type=int, default=12, help="the teacher's DPM-Solver++ steps")
    ap.add_argument("--guidance", type=float, default=None, help="the teacher's scale (default: its recommended)")
    ap.add_argument("--n", type=int, default=10000, help="teacher trajectories (the last 500 held out)")
    ap.add_argument("--train-steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--teacher", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--init", type=Path, default=None,
                    help="start the student from this checkpoint's weights (progressive: a 4-step student for 1 step)")
    ap.add_argument("--trajectories", type=Path, default=ROOT / "runs" / "trajectories.pt")
    ap.add_argument("--out", type=Path, default=FAST_CHECKPOINT)
    args = ap.parse_args()
    if args.n < 1000 or args.n % 10:
        ap.error("--n must be a multiple of 10 and at least 1000 (500 are held out)")
    pipe = load_pipeline(args.teacher)
    guidance = pipe.guidance if args.guidance is None else args.guidance
    grid = student_grid(pipe.schedule, args.steps, args.teacher_steps)
    recipe = {"script": "data/distill_model.py", "teacher": str(args.teacher.name), "teacher_sampler": "dpm++",
              "teacher_steps": args.teacher_steps, "teacher_guidance": guidance, "n_trajectories": args.n,
              "grid": grid, "train_steps": args.train_steps, "batch_size": args.batch_size, "lr": args.lr}
    t0 = time.time()
    key = {k: recipe[k] for k in ("teacher_steps", "teacher_guidance", "n_trajectories")}
    cached = torch.load(args.trajectories, weights_only=True) if args.trajectories.is_file() else None
    if cached and all(cached["key"].get(k) == v for k, v in key.items()) and set(grid) <= set(cached["data"]["grid"]):
        data = on_grid(cached["data"], grid)
    else:
        data = trajectories(pipe, args.n, grid, args.teacher_steps, guidance)
        save_atomic({"key": key, "data": data}, args.trajectories)
    recipe["trajectories_s"] = round(time.time() - t0, 1)
    out_of_range = (data["x"][-1].abs() > 1).float().mean().item()
    t1 = time.time()
    start = pipe.model if args.init is None else load_pipeline(args.init).model
    recipe["init"] = str(args.init.name) if args.init else recipe["teacher"]
    ema, history = train_student(start, pipe.schedule, data, args.train_steps, args.batch_size, args.lr)
    recipe |= {"training_s": round(time.time() - t1, 1), "machine": machine(), "threads": torch.get_num_threads(),
               "history": history, "final_out_of_range": out_of_range}
    teacher = load_checkpoint(args.teacher, DIFFUSION, required=("config", "ema"))
    save_atomic({"kind": DIFFUSION, "config": {"unet": config_dict(ema.config), "schedule": pipe.schedule.config()},
                 "ema": ema.state_dict(), "meta": teacher.get("meta", {}) | {"machine": machine()},
                 "sampling": {"guidance": 1.0, "sampler": "ddim", "steps": args.steps},
                 "recipe": recipe}, args.out)
    print(json.dumps({"out": str(args.out), **{k: v for k, v in recipe.items() if k != "history"},
                      "last": history[-1]}, indent=1))


if __name__ == "__main__":
    main()
