"""Scoring generated digits with the course classifier (helpers.classifier).

* conditional accuracy: does the classifier see the digit that was asked for? (overall, per digit,
  confusion matrix, mean confidence; the judge may abstain, "not a digit", which counts as wrong and
  is reported as "abstained")
* distances between generated and real digits on the classifier's 128-d penultimate features, an
  MNIST analogue of FID (Heusel et al. 2017) and KID (Binkowski et al. 2018):
  - Fréchet distance: biased at small n, so every figure comes with its n and the real-vs-real
    value at that n (``real_vs_real``);
  - kernel distance (KID): unbiased MMD^2 with the cubic kernel k(a, b) = (a.b / d + 1)^3 on
    features standardised by the pooled mean and std of both sets, each std floored at a tenth of
    the median's (a ReLU unit that is silent, or nearly so, must not blow up); ~0 for two real sets.
* diversity within each digit: mean pairwise feature distance (guidance trades it for fidelity).
* simple image measures: MSE, PSNR, the MSE over hidden pixels, the fraction of mid-grey pixels.
"""
import math
import statistics
from functools import lru_cache

import torch

from .classifier import NOT_A_DIGIT, Classifier, load_classifier, predict
from .data import mnist_tensors
from .data import unnormalize_to_zero_to_one


def check_images(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1:] != (1, 28, 28):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor (N, 1, 28, 28) in [0, 1], got {shape}")
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"{name} must lie in [0, 1] (got {x.min().item():.2f}..{x.max().item():.2f}); "
                         "use helpers.data.unnormalize_to_zero_to_one on [-1, 1] images")
    return x


# classifier-based accuracy --------------------------------------------------------------------

@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    return load_classifier()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 10, columns: int = 11) -> torch.Tensor:
    """(num_classes, columns) counts; row = requested digit, column = what the classifier saw (the
    last column, NOT_A_DIGIT, counts the judge's abstentions)."""
    return torch.bincount(target * columns + pred, minlength=num_classes * columns).view(num_classes, columns)


def accuracy_report(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """probs (N, 11) from the judge (or (N, 10) from a classifier that cannot abstain), labels (N,)
    -> accuracy (an abstention counts as wrong), per-digit accuracy, the share and count of
    abstentions, the (10, 11) confusion matrix and the mean confidence in the requested digit."""
    labels = torch.as_tensor(labels).long()
    if probs.dim() != 2 or len(probs) != len(labels) or probs.shape[1] not in (10, 11):
        raise ValueError(f"probs must be ({len(labels)}, 11) or ({len(labels)}, 10), got {tuple(probs.shape)}")
    pred = probs.argmax(1)
    cm = confusion_matrix(pred, labels)
    per_digit = cm.diag().float() / cm.sum(1).clamp(min=1)
    abstained = int((pred == NOT_A_DIGIT).sum())
    return {"accuracy": (pred == labels).float().mean().item(),
            "per_digit": per_digit.tolist(),
            "abstained": abstained / max(len(labels), 1), "abstained_n": abstained,
            "confusion": cm,
            "confidence": probs.gather(1, labels[:, None]).mean().item()}


# feature distances ----------------------------------------------------------------------------

def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) of two feature sets (n, d). Biased in n."""
    f1, f2 = f1.double(), f2.double()
    if f1.dim() != 2 or f2.dim() != 2 or f1.shape[1] != f2.shape[1] or min(len(f1), len(f2)) < 2:
        raise ValueError(f"need two feature sets (n >= 2, d) of equal d, got {tuple(f1.shape)} and {tuple(f2.shape)}")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = torch.cov(f1.T), torch.cov(f2.T)
    r1 = _sqrtm_psd(s1)
    cross = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * cross).item()


def kernel_distance(f_gen: torch.Tensor, f_real: torch.Tensor, subset: int = 1000, subsets: int = 10,
                    seed: int = 0) -> float:
    """Unbiased MMD^2 with a cubic polynomial kernel on standardised features (KID), averaged over
    random subsets of size min(subset, n). Expectation 0 when both sets come from one distribution.

    Features are standardised by the mean and std of both sets pooled (so the distance is symmetric),
    each std floored at a tenth of the median unit's: a ReLU unit that is silent in the real set and
    faintly active in a few generated samples would otherwise turn those values into z-scores of 60 to
    80, and the cubic kernel between two such samples decides the whole estimate (the shipped model at
    n = 5,000: 0.0316 or 0.0067 depending on whether two of its 5,000 digits share a subset). Pooling
    the two sets fixed an older failure of the same kind: dividing each set by its own std gave
    real-vs-real KIDs of 7 to 49 at n = 20."""
    pooled = torch.cat([f_gen.double(), f_real.double()])
    mean, std = pooled.mean(0), pooled.std(0)
    std = std.clamp(min=max(0.1 * std.median().item(), 1e-6))
    a, b = (f_gen.double() - mean) / std, (f_real.double() - mean) / std
    d, m = a.shape[1], min(subset, len(a), len(b))
    if m < 2:
        raise ValueError("kernel_distance needs at least 2 samples in each set")
    g = torch.Generator().manual_seed(seed)
    k = lambda u, v: (u @ v.T / d + 1) ** 3
    vals = []
    for _ in range(subsets if m < max(len(a), len(b)) else 1):
        x, y = a[torch.randperm(len(a), generator=g)[:m]], b[torch.randperm(len(b), generator=g)[:m]]
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        off = lambda kk: (kk.sum() - kk.diagonal().sum()) / (m * (m - 1))
        vals.append((off(kxx) + off(kyy) - 2 * kxy.mean()).item())
    return sum(vals) / len(vals)


def nanmean(values) -> float:
    """The mean of the values that are not NaN (e.g. per-digit diversities where a digit had < 2 images)."""
    v = torch.tensor(values, dtype=torch.float64)
    return v[~v.isnan()].mean().item()


def diversity(features: torch.Tensor, labels: torch.Tensor) -> list:
    """Mean pairwise L2 distance between features of the same digit, per digit (NaN if < 2)."""
    out = []
    for c in range(10):
        f = features[labels == c].double()
        out.append(torch.pdist(f).mean().item() if len(f) > 1 else float("nan"))
    return out


# image measures ----------------------------------------------------------------------------

def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float().cpu() - b.float().cpu()).pow(2).mean().item()


def psnr(x01: torch.Tensor, ref01: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, 10 log10(1 / MSE) in dB, of images in [0, 1]. (N,)"""
    if x01.shape != ref01.shape:
        raise ValueError(f"psnr needs two equal shapes, got {tuple(x01.shape)} and {tuple(ref01.shape)}")
    err = (x01.float() - ref01.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / err.clamp(min=1e-10))


def hidden_mse(x01: torch.Tensor, ref01: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE over the hidden pixels (mask == 0) only, per image. (N,)"""
    hidden = (1 - mask).expand_as(x01)
    return ((x01 - ref01).pow(2) * hidden).flatten(1).sum(1) / hidden.flatten(1).sum(1).clamp(min=1)


def mid_gray_fraction(x01: torch.Tensor, lo: float = 0.1, hi: float = 0.9, per_image: bool = False):
    """Fraction of pixels strictly between lo and hi: MNIST digits are almost black and white,
    blurry images are grey. x01: (N, C, H, W) in [0, 1]. A float, or per_image: (N,), one per image."""
    mid = ((x01 > lo) & (x01 < hi)).float()
    return mid.flatten(1).mean(1) if per_image else mid.mean().item()


def classifier_accuracy(classifier, x01: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images (N, 1, 28, 28) in [0, 1] that the course classifier labels y (N,)."""
    probs, _ = predict(classifier, x01)
    return (probs.argmax(1) == y.cpu()).float().mean().item()


def mean_spread(values) -> tuple:
    """(mean, sample standard deviation) of a list of numbers (spread 0 for one value)."""
    v = torch.tensor(values, dtype=torch.float64)
    return v.mean().item(), (v.std().item() if len(v) > 1 else 0.0)


# real reference sets --------------------------------------------------------------------------

@lru_cache(maxsize=8)
def real_features(n: int, seed: int = 0, split: str = "test", disjoint_from: "int | None" = None):
    """Features (n, 128) and labels of n real digits drawn at random from `split` (never a slice:
    MNIST's order is not random). disjoint_from=seed' draws from the images that seed' did not take."""
    x, y = mnist_tensors(split)
    g = torch.Generator().manual_seed(seed if disjoint_from is None else disjoint_from)
    perm = torch.randperm(len(x), generator=g)
    idx = perm[:n] if disjoint_from is None else perm[-n:]
    if disjoint_from is not None and 2 * n > len(x):
        raise ValueError(f"two disjoint sets of {n} do not fit in the {split} split ({len(x)} images)")
    _, feats = predict(default_classifier(), unnormalize_to_zero_to_one(x[idx]))
    return feats, y[idx]


def real_vs_real(n: int, seed: int = 0) -> dict:
    """Fréchet and kernel distance between two disjoint random real sets of n test digits, and the
    first set's diversity (mean over digits)."""
    f1, y1 = real_features(n, seed)
    f2, _ = real_features(n, seed, disjoint_from=seed)
    return {"n": n, "fd": frechet_distance(f1, f2), "kid": kernel_distance(f1, f2),
            "diversity": nanmean(diversity(f1, y1))}


def accuracy_noise(p1: float, p2: float, n: int) -> float:
    """Two standard errors of the difference between accuracies p1 and p2 (in [0, 1]), each measured on n
    independent digits (binomial). A smaller difference is within sampling noise."""
    if n < 1 or not (0 <= p1 <= 1 and 0 <= p2 <= 1):
        raise ValueError(f"need accuracies in [0, 1] and n >= 1, got p1={p1}, p2={p2}, n={n}")
    return 2 * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)


def mean_noise(values) -> float:
    """Two standard errors of the mean of per-item measurements (N,): inf for one item (no spread
    to estimate)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    return 2 * v.std().item() / math.sqrt(len(v)) if len(v) > 1 else math.inf


def paired_noise(a, b) -> float:
    """Two standard errors of mean(a) - mean(b) for per-item measurements a, b (N,) of the same N
    items (paired: what an item adds to both cancels). A smaller difference is within sampling noise."""
    return mean_noise(torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64))


def real_vs_real_spread(n: int, seeds=range(5)) -> dict:
    """The draw-to-draw noise of a distance at sample size n: the standard deviation (over `seeds`) of
    real_vs_real's "fd", "kid" and "diversity". Differences between two generated sets smaller than
    about twice these cannot be told apart from which digits happened to be drawn."""
    draws = [real_vs_real(n, s) for s in seeds]
    return {"n": n, **{k: torch.tensor([d[k] for d in draws]).std(correction=0).item()
                       for k in ("fd", "kid", "diversity")}}


def reference_spread(n: int, seeds=range(8), reference_seed: int = 0) -> dict:
    """How far apart real digits are at sample size n, to read a generated set's distance against.

    "real_vs_real": Fréchet distance between two disjoint random sets of n test digits, one pair per
    seed (evaluate_samples' "fd_real" is the pair of `reference_seed`); "train_vs_ref": n random
    training digits (one draw per seed) against the test reference evaluate_samples compares
    generated digits with: what a generator that reproduced the training distribution exactly would
    score. Both vary with the draw at small n; lists in the order of `seeds`.
    """
    ref, _ = real_features(n, reference_seed)
    return {"n": n, "seeds": list(seeds),
            "real_vs_real": [real_vs_real(n, s)["fd"] for s in seeds],
            "train_vs_ref": [frechet_distance(real_features(n, s, split="train")[0], ref) for s in seeds]}


def real_ratio(images: torch.Tensor, seeds=range(5)) -> dict:
    """The Fréchet distance of generated digits (N, 1, 28, 28) in [0, 1] read against what real digits
    score: for each seed, the distance to a random draw of N test digits, and that of N random
    *training* digits to the same draw (what a generator that reproduced the training set would
    score). Returns the medians over the seeds of both distances ("fd", "fd_train") and of their
    ratio ("real_ratio": 1 = as close as real digits; < 1 happens at small N)."""
    _, feats = predict(default_classifier(), check_images(images))
    n, rows = len(images), []
    for s in seeds:
        ref, _ = real_features(n, s)
        rows.append((frechet_distance(feats, ref), frechet_distance(real_features(n, s, split="train")[0], ref)))
    return {"fd": statistics.median(a for a, _ in rows), "fd_train": statistics.median(b for _, b in rows),
            "real_ratio": statistics.median(a / b for a, b in rows), "n": n, "seeds": len(rows)}


# all of it at once ----------------------------------------------------------------------------

def evaluate_samples(images: torch.Tensor, labels, classifier: "Classifier | None" = None,
                     reference_seed: int = 0) -> dict:
    """Score generated digits (N, 1, 28, 28) in [0, 1] requested as `labels` (N,).

    Returns accuracy / per_digit / confusion / confidence, fd and its real-vs-real baseline at the
    same n ("fd_n", "fd_real"), kid, and per-digit diversity (with the real digits' beside it).
    """
    images = check_images(images)
    labels = torch.as_tensor(labels).long()
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    probs, feats = predict(classifier or default_classifier(), images)
    out = accuracy_report(probs, labels)
    n = len(images)
    real, real_y = real_features(n, reference_seed)
    out |= {"fd": frechet_distance(feats, real), "fd_n": n,
            "fd_real": real_vs_real(n, reference_seed)["fd"] if 2 * n <= 10000 else float("nan"),
            "kid": kernel_distance(feats, real),
            "diversity": diversity(feats, labels), "diversity_real": diversity(real, real_y)}
    out["fd_ratio"] = out["fd"] / out["fd_real"]
    return out
