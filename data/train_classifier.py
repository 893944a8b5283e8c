"""Train the course's judge (train split only) and ship it as data/mnist_classifier.pt: an MNIST
classifier with an 11th class, "not a digit", trained with the course's corruptions (pixel noise,
blur, a hidden patch) and with noise, blank and scribble images (helpers.classifier.train_classifier,
abstain=True). Prints helpers.classifier.judge_report on the test split and stores it in the file.

    python data/train_classifier.py          # ~10 min on 2 CPU cores
"""
import argparse
import json
import time

from helpers.classifier import CLASSIFIER_PATH, judge_report, save_classifier, train_classifier
from helpers.data import mnist_tensors, unnormalize_to_zero_to_one
from helpers.unet import machine


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(CLASSIFIER_PATH))
    args = ap.parse_args()
    x, y = mnist_tensors("train")
    x_test, y_test = mnist_tensors("test")
    t0 = time.time()
    model = train_classifier(unnormalize_to_zero_to_one(x), y, epochs=args.epochs, seed=args.seed, abstain=True)
    seconds = time.time() - t0
    report = judge_report(model, unnormalize_to_zero_to_one(x_test), y_test)
    meta = {"test_accuracy": report["clean"], "judge_report": report, "epochs": args.epochs, "seed": args.seed,
            "classes": "0-9 and 10 = not a digit", "train_split": "train (55k, val held out)",
            "train_seconds": round(seconds, 1), "machine": machine(), "script": "data/train_classifier.py"}
    save_classifier(model, args.out, **meta)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
