"""Train the course's shipped diffusion model on the CPU and export its EMA weights to data/.

Same code path as notebook 03 (helpers.Trainer). Usage::

    python data/train_model.py                      # the shipped recipe (~40 min on 2 CPU cores)
    python data/train_model.py --epochs 1 --out /tmp/m.pt

The full checkpoint (optimizer state, raw weights) goes to runs/; the shipped file keeps the EMA
weights, the configuration, the training history and the recipe, wall-clock time and machine.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from helpers import Trainer, TrainConfig, UNetConfig, mnist_tensors
from helpers.pipeline import DEFAULT_CHECKPOINT
from helpers.utils import ROOT

SHIPPED_UNET = UNetConfig(base=32, mults=(1, 2, 4), blocks=1)
SHIPPED_TRAIN = TrainConfig(epochs=7, batch_size=128, lr=2e-3, warmup_steps=200, ema_decay=0.999,
                            p_uncond=0.1, schedule="cosine", bf16=True, seed=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=SHIPPED_TRAIN.epochs)
    ap.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--full", type=Path, default=ROOT / "runs" / "shipped_full.pt")
    ap.add_argument("--guidance", type=float, default=1.0, help="recommended guidance scale stored with it")
    ap.add_argument("--resume", action="store_true", help="continue from --full")
    args = ap.parse_args()

    x, y = mnist_tensors("train")
    x_val, y_val = mnist_tensors("val")
    if args.resume:
        trainer = Trainer.load(args.full, epochs=args.epochs)
    else:
        cfg = TrainConfig(**{**SHIPPED_TRAIN.__dict__, "epochs": args.epochs})
        trainer = Trainer(SHIPPED_UNET, cfg)
    t0 = time.time()
    trainer.fit(x, y, x_val, y_val, checkpoint=args.full)
    recipe = {"script": "data/train_model.py", "epochs": args.epochs, "wall_clock_s": round(trainer.elapsed, 1),
              "session_wall_clock_s": round(time.time() - t0, 1), "threads": torch.get_num_threads()}
    trainer.save(args.out, slim=True, sampling={"guidance": args.guidance, "sampler": "ddim", "steps": 50},
                 recipe=recipe)
    print(json.dumps({"out": str(args.out), **recipe, "val_loss": trainer.history["val_loss"][-1]}, indent=1))


if __name__ == "__main__":
    main()
