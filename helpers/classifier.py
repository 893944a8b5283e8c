"""The course's MNIST classifier: the judge of generated digits (accuracy) and the feature
extractor behind the Fréchet and kernel distances (its 128-d penultimate layer).

The judge has an 11th class, NOT_A_DIGIT, so it can abstain: it is trained on the train split only
(55k images; val and test untouched) with small random shifts, with the corruptions the course
shows (pixel noise, blur, a hidden patch) on part of each batch, and with images a person would not
read as a digit (noise, blank, scribbles) labelled NOT_A_DIGIT. judge_report measures all of it on
held-out images; every accuracy counts an abstention as wrong.
"""
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CLASSIFIER, DATA_DIR, load_checkpoint, save_atomic
from .unet import autocast, pick_device

CLASSIFIER_PATH = DATA_DIR / "mnist_classifier.pt"
FEATURE_DIM = 128
NOT_A_DIGIT = 10                   # the 11th class: noise, blank or scribble


class Classifier(nn.Module):
    """(N, 1, 28, 28) images in [0, 1] -> (N, num_classes) logits; .features gives (N, 128).
    num_classes 11: the digits and NOT_A_DIGIT (10: a digit classifier that cannot abstain)."""

    def __init__(self, width: int = 32, num_classes: int = 11):
        super().__init__()
        w = width

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.body = nn.Sequential(block(1, w), block(w, 2 * w), nn.Flatten(),
                                  nn.Dropout(0.3), nn.Linear(2 * w * 49, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))

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


# corruptions and non-digits (augmentation, and judge_report's held-out tests) -------------------

def add_pixel_noise(x01: torch.Tensor, sigma, g: torch.Generator) -> torch.Tensor:
    """x01 (N, 1, H, W) in [0, 1] plus Gaussian noise of std sigma (a float or (N,)), clamped to [0, 1]."""
    sigma = torch.as_tensor(sigma, dtype=x01.dtype).reshape(-1, 1, 1, 1)
    return (x01 + sigma * torch.randn(x01.shape, generator=g)).clamp(0, 1)


def gaussian_blur(x01: torch.Tensor, sigma) -> torch.Tensor:
    """Blur each image (N, 1, H, W) with a Gaussian of std sigma pixels (a float or (N,), > 0)."""
    n = len(x01)
    sigma = torch.as_tensor(sigma, dtype=x01.dtype).reshape(-1).expand(n)
    r = max(1, int(3 * sigma.max().item() + 0.5))
    d = torch.arange(-r, r + 1, dtype=x01.dtype)
    k = torch.exp(-d[None] ** 2 / (2 * sigma[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)                                           # (N, 2r + 1)
    y = F.conv2d(x01.reshape(1, n, *x01.shape[2:]), k[:, None, :, None], padding=(r, 0), groups=n)
    y = F.conv2d(y, k[:, None, None, :], padding=(0, r), groups=n)
    return y.reshape(x01.shape)


def hide_patch(x01: torch.Tensor, g: torch.Generator, max_side: int = 12) -> torch.Tensor:
    """Black out one random square of side 6..max_side in each image (N, 1, H, W)."""
    n, _, H, W = x01.shape
    side = torch.randint(6, max_side + 1, (n,), generator=g)
    top, left = (torch.rand(n, generator=g) * (H - side)).long(), (torch.rand(n, generator=g) * (W - side)).long()
    rows, cols = torch.arange(H)[None, :], torch.arange(W)[None, :]
    inside = (((rows >= top[:, None]) & (rows < (top + side)[:, None]))[:, :, None]
              & ((cols >= left[:, None]) & (cols < (left + side)[:, None]))[:, None, :])
    return x01.masked_fill(inside[:, None], 0.0)


def scribbles(n: int, g: torch.Generator, size: int = 28) -> torch.Tensor:
    """n images (n, 1, size, size) in [0, 1]: a random polyline of 5-8 straight strokes criss-crossing
    the frame (fewer strokes can look like a 7 or a 4)."""
    if n > 256:                                                                  # bound the (n, size^2, P) distances
        return torch.cat([scribbles(min(256, n - k), g, size) for k in range(0, n, 256)])
    segs = 8
    ends = torch.rand(n, segs + 1, 2, generator=g) * (size - 6) + 3                 # a random polyline
    used = torch.randint(5, segs + 1, (n,), generator=g)
    s = torch.linspace(0, 1, 16)
    pts = ends[:, :-1, None] + s[None, None, :, None] * (ends[:, 1:] - ends[:, :-1])[:, :, None]   # (n, segs, 16, 2)
    keep = (torch.arange(segs)[None] < used[:, None])[:, :, None].expand(-1, -1, 16).reshape(n, -1)
    pts = pts.reshape(n, -1, 2)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    grid = torch.stack([yy, xx], -1).reshape(1, -1, 1, 2)
    d2 = ((grid - pts[:, None]) ** 2).sum(-1).masked_fill(~keep[:, None], float("inf"))     # (n, size^2, P)
    width = 0.7 + 0.6 * torch.rand(n, 1, generator=g)
    return torch.exp(-d2.min(-1).values / (2 * width ** 2)).reshape(n, 1, size, size)


def not_digits(n: int, g: torch.Generator) -> torch.Tensor:
    """n images (n, 1, 28, 28) in [0, 1] that no one would read as a digit: Gaussian noise of random
    mean and spread (a sampler's x_T among them), uniform noise, smooth noise, blank frames, scribbles."""
    kind = torch.randint(0, 5, (n,), generator=g)
    out = torch.empty(n, 1, 28, 28)
    mean, spread = 0.2 + 0.6 * torch.rand(n, 1, 1, 1, generator=g), 0.2 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)

    def smooth(m, mu, sd):
        z = gaussian_blur(torch.randn(m, 1, 28, 28, generator=g), 1.0 + 2.0 * torch.rand(m, generator=g))
        return (mu + z / z.flatten(1).std(1).reshape(-1, 1, 1, 1) * sd / 2).clamp(0, 1)
    make = (lambda m, mu, sd: (mu + sd * torch.randn(m, 1, 28, 28, generator=g)).clamp(0, 1),
            lambda m, mu, sd: torch.rand(m, 1, 28, 28, generator=g),
            smooth,
            lambda m, mu, sd: (torch.rand(m, 1, 1, 1, generator=g) + 0.03 * torch.randn(m, 1, 28, 28, generator=g)).clamp(0, 1),
            lambda m, mu, sd: scribbles(m, g))
    for k, fn in enumerate(make):
        if (kind == k).any():
            out[kind == k] = fn(int((kind == k).sum()), mean[kind == k], spread[kind == k])
    return out


def corrupt(x01: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Training augmentation: a share p of the images (N, 1, 28, 28) gets pixel noise (std up to 0.4),
    a blur (std 0.5..2.5 px) or a hidden patch, one each at random; the rest stay clean."""
    x01 = x01.clone()
    which = torch.randint(0, 3, (len(x01),), generator=g).masked_fill(torch.rand(len(x01), generator=g) >= p, -1)
    for k, fn in enumerate((lambda x: add_pixel_noise(x, 0.4 * torch.rand(len(x), generator=g), g),
                            lambda x: gaussian_blur(x, 0.5 + 2.0 * torch.rand(len(x), generator=g)),
                            lambda x: hide_patch(x, g))):
        if (which == k).any():
            x01[which == k] = fn(x01[which == k])
    return x01


def train_classifier(x, y, epochs: int = 4, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     device=None, progress: bool = True, abstain: bool = False) -> Classifier:
    """x: (N, 1, 28, 28) in [0, 1]; y: (N,). Adam with one-cycle decay, random shifts of 2 px.
    abstain=True trains the course's judge: 11 classes, corrupt() on the digits and batch_size / 8
    not_digits() per batch labelled NOT_A_DIGIT (False: a plain 10-class digit classifier)."""
    device = pick_device(device)
    torch.manual_seed(seed)
    model = Classifier(num_classes=11 if abstain else 10).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    bar = tqdm(total=steps, disable=not progress, desc="classifier")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for k in range(len(x) // batch_size):
            idx = perm[k * batch_size:(k + 1) * batch_size]
            xb, yb = random_shift(x[idx], 2, g), y[idx]
            if abstain:
                m = batch_size // 8
                xb = torch.cat([corrupt(xb, g), not_digits(m, g)])
                yb = torch.cat([yb, torch.full((m,), NOT_A_DIGIT, dtype=yb.dtype)])
            with autocast(device):
                loss = F.cross_entropy(model(xb.to(device)).float(), yb.to(device), label_smoothing=0.05)
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
    """Softmax probabilities (N, num_classes) and features (N, 128) for images (N, 1, 28, 28) in
    [0, 1]; for the course's judge column NOT_A_DIGIT is its abstention."""
    Classifier.check(x)
    device = next(model.parameters()).device
    probs, feats = [], []
    for s in range(0, len(x), batch_size):
        f = model.features(x[s:s + batch_size].to(device).float())
        feats.append(f.cpu())
        probs.append(model.head(f).softmax(-1).cpu())
    return torch.cat(probs), torch.cat(feats)


def judge_report(model: Classifier, x01: torch.Tensor, y: torch.Tensor, seed: int = 0) -> dict:
    """The judge on held-out images x01 (N, 1, 28, 28) in [0, 1] with labels y (N,): accuracy on clean
    digits, under pixel noise of std 0.2, under a Gaussian blur of std 2 px and with a hidden patch
    (an abstention counts as wrong; "abstained_<case>" is its share), and the share of N noise, blank
    and scribble images (not_digits) it calls NOT_A_DIGIT ("not_a_digit")."""
    g = torch.Generator().manual_seed(seed)
    cases = {"clean": x01, "noise_0.2": add_pixel_noise(x01, 0.2, g), "blur_2px": gaussian_blur(x01, 2.0),
             "patch": hide_patch(x01, g)}
    out = {"n": len(x01)}
    for name, imgs in cases.items():
        pred = predict(model, imgs)[0].argmax(1)
        out[name] = (pred == y).float().mean().item()
        out[f"abstained_{name}"] = (pred == NOT_A_DIGIT).float().mean().item()
    junk = not_digits(len(x01), g)
    pure = (0.5 + 0.5 * torch.randn(len(x01), 1, 28, 28, generator=g)).clamp(0, 1)   # a sampler's x_T, shown
    out["not_a_digit"] = (predict(model, junk)[0].argmax(1) == NOT_A_DIGIT).float().mean().item()
    out["pure_noise"] = (predict(model, pure)[0].argmax(1) == NOT_A_DIGIT).float().mean().item()
    return out


def save_classifier(model: Classifier, path=CLASSIFIER_PATH, **meta):
    config = {"width": model.body[0][0].out_channels, "num_classes": model.head[-1].out_features}
    return save_atomic({"kind": CLASSIFIER, "config": config,
                        "state": model.state_dict(), "meta": meta}, path)


def load_classifier(path=CLASSIFIER_PATH, device=None) -> Classifier:
    ckpt = load_checkpoint(path, CLASSIFIER, required=("config", "state"))
    model = Classifier(**{"num_classes": 10, **ckpt["config"]})
    model.load_state_dict(ckpt["state"])
    model.meta = ckpt.get("meta", {})
    return model.eval().to(pick_device(device))
