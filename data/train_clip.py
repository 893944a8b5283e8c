"""Train the course's small CLIP on MNIST and ship it as data/clip-mnist/ (transformers format).

    python data/train_clip.py                         # the shipped recipe (~10 min on 2 CPU cores)
    python data/train_clip.py --epochs 0.2 --out /tmp/clip-test

Trains on the train split (55k; val and test untouched), measures zero-shot accuracy on the whole
test split with the held-out prompt wordings (helpers.clip.HELDOUT_TEMPLATES), and writes the
recipe, wall-clock time and accuracies to training.json next to the weights.
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from helpers.clip import (DEFAULT_CLIP, DIGIT_NUMERALS, HELDOUT_TEMPLATES, TRAIN_TEMPLATES, save_clip, train_clip,
                          zero_shot_accuracy)
from helpers.data import mnist_tensors, random_subset, unnormalize_to_zero_to_one

SHIPPED = dict(epochs=5.0, batch_size=128, lr=2e-3, weight_decay=0.05, max_shift=2, seed=0,
               width=64, vision_layers=3, text_layers=2, patch_size=4, projection_dim=64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for k, v in SHIPPED.items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    ap.add_argument("--out", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--test-size", type=int, default=None, help="evaluate on a random subset (default: all 10k)")
    args = vars(ap.parse_args())
    out, test_size, threads = args.pop("out"), args.pop("test_size"), args.pop("threads")
    if threads:
        torch.set_num_threads(threads)

    x, y = mnist_tensors("train")
    x_test, y_test = mnist_tensors("test")
    if test_size:
        x_test, y_test = random_subset(x_test, y_test, test_size)
    x_val, y_val = random_subset(*mnist_tensors("val"), 2000)
    x, x_val, x_test = (unnormalize_to_zero_to_one(v) for v in (x, x_val, x_test))
    load_before, t0 = os.getloadavg()[0], time.time()
    clip, history = train_clip(x, y, x_val=x_val, y_val=y_val, **args)
    seconds = time.time() - t0
    acc = {"ensemble_words": zero_shot_accuracy(clip, x_test, y_test),
           "ensemble_numerals": zero_shot_accuracy(clip, x_test, y_test, names=DIGIT_NUMERALS)}
    acc.update({tpl: zero_shot_accuracy(clip, x_test, y_test, [tpl]) for tpl in HELDOUT_TEMPLATES})
    record = {"script": "data/train_clip.py", "recipe": args, "train_split": "train (55k, val held out)",
              "train_captions": list(TRAIN_TEMPLATES), "heldout_prompts": list(HELDOUT_TEMPLATES),
              "zero_shot_test_accuracy": acc, "test_images": len(y_test),
              "wall_clock_s": round(seconds, 1), "threads": torch.get_num_threads(),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
              "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
              "parameters": sum(p.numel() for p in clip.model.parameters()),
              "final_loss": history["loss"][-1], "logit_scale": history["logit_scale"][-1],
              "val_zero_shot": {"step": history["val_step"], "accuracy": history["val_zero_shot"],
                                "images": len(y_val), "split": "val (2k of the 5k held out from training)"},
              "loss_history": {"step": history["step"], "loss": [round(v, 4) for v in history["loss"]]}}
    save_clip(clip, out, **record)
    print(json.dumps({k: v for k, v in record.items() if k != "loss_history"}, indent=1))


if __name__ == "__main__":
    main()
