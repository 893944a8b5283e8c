"""The course's MNIST classifier: the judge of generated digits (accuracy) and the feature
extractor behind the Fréchet and kernel distances (its 128-d penultimate layer).

Trained on the train split only (55k images; val and test untouched), with small random shifts.
"""
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CLASSIFIER, DATA_DIR, load_checkpoint, save_atomic
from .unet import autocast, pick_device

CLASSIFIER_PATH = DATA_DIR / "mnist_classifier.pt"
FEATURE_DIM = 128


class Classifier(nn.Module):
    """(N, 1, 28, 28) images in [0, 1] -> (N, 10) logits; .features gives (N, 128)."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.body = nn.Sequential(block(1, w), block(w, 2 * w), nn.Flatten(),
                                  nn.Dropout(0.3), nn.Linear(2 * w * 49, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, 10))

    @staticmethod
    def check(x):
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"the classifier takes images of shape (N, 1, 28, 28) in [0, 1], got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        return self.body((x - 0.1307) / 0.3081)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Shift each image by a whole number of pixels, up to max_shift (zero fill): cheap augmentation."""
    n, _, H, W = x.shape
    d = torch.randint(-max_shift, max_shift + 1, (2, n), generator=g).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = 2 * d[0] / W, 2 * d[1] / H
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def train_classifier(x, y, epochs: int = 4, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     device=None, progress: bool = True) -> Classifier:
    """x: (N, 1, 28, 28) in [0, 1]; y: (N,). Adam with one-cycle decay, random shifts of 2 px."""
    device = pick_device(device)
    torch.manual_seed(seed)
    model = Classifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    bar = tqdm(total=steps, disable=not progress, desc="classifier")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for k in range(len(x) // batch_size):
            idx = perm[k * batch_size:(k + 1) * batch_size]
            xb = random_shift(x[idx], 2, g).to(device)
            with autocast(device):
                loss = F.cross_entropy(model(xb).float(), y[idx].to(device), label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch_size: int = 1000):
    """Softmax probabilities (N, 10) and features (N, 128) for images (N, 1, 28, 28) in [0, 1]."""
    Classifier.check(x)
    device = next(model.parameters()).device
    probs, feats = [], []
    for s in range(0, len(x), batch_size):
        f = model.features(x[s:s + batch_size].to(device).float())
        feats.append(f.cpu())
        probs.append(model.head(f).softmax(-1).cpu())
    return torch.cat(probs), torch.cat(feats)


def save_classifier(model: Classifier, path=CLASSIFIER_PATH, **meta):
    return save_atomic({"kind": CLASSIFIER, "config": {"width": model.body[0][0].out_channels},
                        "state": model.state_dict(), "meta": meta}, path)


def load_classifier(path=CLASSIFIER_PATH, device=None) -> Classifier:
    ckpt = load_checkpoint(path, CLASSIFIER, required=("config", "state"))
    model = Classifier(**ckpt["config"])
    model.load_state_dict(ckpt["state"])
    model.meta = ckpt.get("meta", {})
    return model.eval().to(pick_device(device))
