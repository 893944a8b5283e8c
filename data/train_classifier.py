"""Train the course's MNIST classifier (train split only) and ship it as data/mnist_classifier.pt.

    python data/train_classifier.py          # ~5 min on 2 CPU cores
"""
import argparse
import json
import time

from helpers.classifier import CLASSIFIER_PATH, predict, save_classifier, train_classifier
from helpers.data import mnist_tensors, unnormalize_to_zero_to_one


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--out", default=str(CLASSIFIER_PATH))
    args = ap.parse_args()
    x, y = mnist_tensors("train")
    x_test, y_test = mnist_tensors("test")
    t0 = time.time()
    model = train_classifier(unnormalize_to_zero_to_one(x), y, epochs=args.epochs)
    seconds = time.time() - t0
    probs, _ = predict(model, unnormalize_to_zero_to_one(x_test))
    acc = (probs.argmax(1) == y_test).float().mean().item()
    meta = {"test_accuracy": acc, "epochs": args.epochs, "train_split": "train (55k, val held out)",
            "train_seconds": round(seconds, 1), "script": "data/train_classifier.py"}
    save_classifier(model, args.out, **meta)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
