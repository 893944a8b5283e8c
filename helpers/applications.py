"""What a trained digit model is good for (notebook 06).

    slerp(z0, z1, w)                                 # spherical interpolation of noise
    sample_mixed(pipe, mix_weights(3, 8, ws), x_T)    # "hybrid" digits: mixed class embeddings
    inpaint(pipe.denoiser(), x0, mask)                # RePaint (Lugmayr et al. 2022)
    sdedit(pipe.denoiser(), x, t)                     # SDEdit (Meng et al. 2022): noise to t, then reverse
    augmentation_experiment(...)                      # a classifier trained with / without generated digits
    read_prompt(clip, prompt, prototypes)             # which digit does the course's CLIP read in a prompt?
    text_to_digits(pipe, clip, prompt, prototypes)    # a prompt -> generated digits

Images are (N, C, H, W) in [-1, 1] unless a name says ``01`` ([0, 1]). Masks are float (N, 1, H, W)
with 1 where a pixel is known and 0 where it is hidden.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .classifier import train_classifier
from .clip import DIGIT_NUMERALS, class_prompts, clip_guided_sample, image_embeds, text_embeds
from .data import unnormalize_to_zero_to_one
from .analysis import reverse_from, snap_to_grid
from .evaluate import classifier_accuracy, hidden_mse, mean_spread, psnr
from .pipeline import DIGIT_NAMES
from .samplers import Denoiser, denoise, make_sampler, reverse


# masks -------------------------------------------------------------------------------------

MASKS = ("half", "box", "random")


def make_mask(kind: str, n: int, size: int = 28, frac: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Float (n, 1, size, size): 1 = known, 0 = hidden. "half": the bottom half hidden; "box": a
    centred square of side size // 2 hidden; "random": each pixel hidden with probability frac."""
    if kind == "half":
        mask = torch.ones(size, size)
        mask[size // 2:] = 0
    elif kind == "box":
        a, b = size // 4, size // 4 + size // 2
        mask = torch.ones(size, size)
        mask[a:b, a:b] = 0
    elif kind == "random":
        if not 0 <= frac <= 1:
            raise ValueError(f"frac must lie in [0, 1], got {frac}")
        g = torch.Generator().manual_seed(seed)
        return (torch.rand((n, 1, size, size), generator=g) >= frac).float()
    else:
        raise ValueError(f"unknown mask {kind!r}: choose one of {MASKS}")
    return mask.expand(n, 1, size, size).clone()


def mean_fill(x: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    """The baseline completion: known pixels kept, hidden ones set to the average training image."""
    return mask * x + (1 - mask) * mean_image


# interpolation and hybrids -----------------------------------------------------------------

def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """Spherical interpolation between the items of two batches a, b (N, ...), item by item:
    sin((1-w) theta) / sin(theta) a + sin(w theta) / sin(theta) b, theta the angle between them.
    Gaussian noise lives near a sphere of radius sqrt(dim): slerp stays there, a straight line
    (lerp) cuts inside it, where the model never saw any x_T."""
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(f"slerp needs two batches (N, ...) of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    fa, fb = a.flatten(1), b.flatten(1)
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp(min=1e-12)
    theta = cos.clamp(-1, 1).acos()[:, None]
    small = theta < 1e-4                                     # (almost) parallel: lerp is exact enough
    s = theta.sin().clamp(min=1e-12)
    wa = torch.where(small, torch.full_like(theta, 1 - w), ((1 - w) * theta).sin() / s)
    wb = torch.where(small, torch.full_like(theta, w), (w * theta).sin() / s)
    return (wa * fa + wb * fb).reshape(a.shape)


def mix_weights(a: int, b: int, ws, num_classes: int = 10) -> torch.Tensor:
    """Rows (1 - w) e_a + w e_b for each w in ws: (len(ws), num_classes) mixing weights."""
    ws = torch.as_tensor(list(ws) if not isinstance(ws, (int, float)) else [ws], dtype=torch.float32)
    eye = torch.eye(num_classes)
    return (1 - ws)[:, None] * eye[a] + ws[:, None] * eye[b]


class MixedClassUNet(nn.Module):
    """A U-Net whose class embedding is a mixture of its digits' embeddings.

    UNet.embed(t, y) = time_emb(t) + class_emb(y); here label i (0..M-1) stands for the embedding
    sum_k weights[i, k] class_emb[k], and label M is the model's null label (for guidance). The wrapped
    model is run unchanged: a forward hook swaps class_emb's output for the mixed rows.
    weights: (M, num_classes). Label i = row i: with a one-hot row it is exactly the pure digit.
    """

    def __init__(self, model: nn.Module, weights: torch.Tensor):
        super().__init__()
        K = model.config.num_classes
        if weights.dim() != 2 or weights.shape[1] != K:
            raise ValueError(f"weights must be (M, {K}), got {tuple(weights.shape)}")
        self.model, self.config = model, model.config
        self.register_buffer("weights", weights.float())
        self.null_label = len(weights)

    def forward(self, x, t, y):
        table = self.model.class_emb.weight                              # (K + 1, D), last row: null
        with torch.autocast(x.device.type, enabled=False):                # exact float32 mixture
            mixed = self.weights[y.clamp(max=self.null_label - 1)] @ table[:-1]
        emb = torch.where((y == self.null_label)[:, None], table[-1].expand_as(mixed), mixed)
        handle = self.model.class_emb.register_forward_hook(lambda m, i, out: emb.to(out.dtype))
        try:
            return self.model(x, t, torch.zeros_like(y))
        finally:
            handle.remove()


@torch.no_grad()
def sample_mixed(pipe, weights: torch.Tensor, x_T: torch.Tensor, steps: int = 50,
                 guidance: "float | None" = None, sampler: str = "ddim", generator=None) -> torch.Tensor:
    """One image per row of weights (N, num_classes), from noise x_T (N, C, H, W): the class
    embedding is the weighted mixture (see MixedClassUNet). Returns (N, C, H, W) in [0, 1]."""
    denoiser = Denoiser(MixedClassUNet(pipe.model, weights.to(pipe.device)), pipe.schedule)
    x = reverse(denoiser, make_sampler(sampler, pipe.schedule, steps), x_T, torch.arange(len(weights)),
                guidance=pipe.guidance if guidance is None else guidance, generator=generator)
    return unnormalize_to_zero_to_one(x).cpu()


# inpainting ---------------------------------------------------------------------------------

@torch.no_grad()
def inpaint(denoiser: Denoiser, x0: torch.Tensor, mask: torch.Tensor, y: "torch.Tensor | None" = None,
            steps: int = 25, resample: int = 3, guidance: float = 1.0, sampler: str = "ddpm",
            seed: int = 0, progress: bool = False) -> torch.Tensor:
    """RePaint (Lugmayr et al. 2022): fill the hidden pixels (mask == 0) of x0 (N, C, H, W) in [-1, 1].

    At each reverse step t -> t_prev: the model's step gives x_{t_prev} for the hidden region, the
    real image noised to t_prev (schedule.add_noise) gives the known region. That step is done
    `resample` times; between two tries x_{t_prev} is noised back to t with q(x_t | x_{t_prev}),
    so the generated region gets to adapt to the known one. The last step pastes x0 itself, so the
    known pixels come out exactly. y: labels (N,) or None (the null label: the model is not told
    the digit). Returns (N, C, H, W) in [-1, 1]. Model calls: steps * resample.
    """
    if sampler == "dpm++":
        raise ValueError("inpaint needs a one-step sampler ('ddpm' or 'ddim'): dpm++ keeps history")
    if resample < 1:
        raise ValueError(f"resample must be >= 1, got {resample}")
    schedule, device, g = denoiser.schedule, denoiser.device, torch.Generator().manual_seed(seed)
    noise = lambda: torch.randn(x0.shape, generator=g).to(device)
    y = torch.full((len(x0),), denoiser.model.null_label, dtype=torch.long) if y is None else y
    x0, mask, tries = x0.to(device), mask.to(device), 0
    steps_iter = denoise(denoiser, make_sampler(sampler, schedule, steps), noise(), y, guidance, g, progress=progress)
    for step in steps_iter:
        # BEGIN SOLUTION repaint_paste
        known = x0 if step.t_prev < 0 else schedule.add_noise(x0, noise(), step.t_prev)
        step.x = mask * known + (1 - mask) * step.x
        # END SOLUTION
        tries += 1
        if tries < resample and step.t_prev >= 0:                     # jump back t_prev -> t, try again
            a = schedule.alpha_bar_at(step.t, step.x) / schedule.alpha_bar_at(step.t_prev, step.x)
            step.x, step.redo = a.sqrt() * step.x + (1 - a).sqrt() * noise(), True
        else:
            tries = 0
    return step.x.clamp(-1, 1).cpu()


def completion_scores(x: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, classifier) -> dict:
    """How good is a completion x of x0 (both (N, C, H, W) in [-1, 1]; mask 1 = known)?
    {"accuracy": share the classifier reads as y, "hidden_mse": mean MSE on the hidden pixels (in
    [0, 1] units), "hidden_mse_each": (N,) per image, "known_error": largest change to a known pixel}."""
    x01, ref01 = unnormalize_to_zero_to_one(x), unnormalize_to_zero_to_one(x0)
    each = hidden_mse(x01, ref01, mask)
    return {"accuracy": classifier_accuracy(classifier, x01, y), "hidden_mse": each.mean().item(),
            "hidden_mse_each": each, "known_error": ((x01 - ref01) * mask).abs().max().item()}


# restoration (SDEdit) ----------------------------------------------------------------------

def mean_filter(x01: torch.Tensor, size: int = 3) -> torch.Tensor:
    """The restoration baseline: each pixel replaced by the mean of its size x size neighbourhood
    (the part inside the image). (N, C, H, W) -> (N, C, H, W)."""
    return F.avg_pool2d(x01, size, stride=1, padding=size // 2, count_include_pad=False)


def matching_t(schedule, sigma: float) -> int:
    """First t at which the diffusion noise matches pixel noise of std sigma in [0, 1] units:
    x_t / sqrt(alpha_bar) = x0 + sqrt((1 - alpha_bar) / alpha_bar) eps, and sigma is 2 sigma in [-1, 1]."""
    ratio = (1 - schedule.alpha_bar) / schedule.alpha_bar
    return int((ratio >= (2 * sigma) ** 2).nonzero()[0])


def sdedit(denoiser: Denoiser, x: torch.Tensor, t: int, y: "torch.Tensor | None" = None, steps: int = 50,
           seed: int = 0):
    """SDEdit (Meng et al. 2022): noise x (N, C, H, W) in [-1, 1] to timestep t (snapped to the
    `steps`-step DDIM grid), then run the deterministic reverse process to t = 0. y None: the null
    label. Returns (x0 (N, C, H, W) in [-1, 1], the t used)."""
    t = snap_to_grid([t], make_sampler("ddim", denoiser.schedule, steps).timesteps)[0]
    y = torch.full((len(x),), denoiser.model.null_label, dtype=torch.long) if y is None else y
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    x_t = denoiser.schedule.add_noise(x, noise, torch.full((len(x),), t))
    return reverse_from(denoiser, x_t, t, y, steps), t


def restoration_curve(denoiser: Denoiser, clean01, degraded01, y, ts, classifier, steps: int = 50,
                      conditional: bool = False, progress: bool = True) -> dict:
    """SDEdit from each t in ts: PSNR to the clean images and classifier accuracy (true labels y).

    The first entry (t = None) is the degraded input itself. conditional: tell the model y.
    Returns {"t": [...], "psnr": [...], "psnr_each": [(N,) per image, ...], "accuracy": [...],
    "images": {t: (N, C, H, W) in [0, 1]}}.
    """
    out = {"t": [None], "psnr_each": [psnr(degraded01, clean01)],
           "accuracy": [classifier_accuracy(classifier, degraded01, y)],
           "images": {None: degraded01}}
    x = degraded01 * 2 - 1
    for t in tqdm(ts, desc="SDEdit", disable=not progress):
        x0, t_used = sdedit(denoiser, x, t, y if conditional else None, steps)
        x01 = unnormalize_to_zero_to_one(x0)
        out["t"].append(t_used)
        out["psnr_each"].append(psnr(x01, clean01))
        out["accuracy"].append(classifier_accuracy(classifier, x01, y))
        out["images"][t_used] = x01
    out["psnr"] = [p.mean().item() for p in out["psnr_each"]]
    return out


# data augmentation -------------------------------------------------------------------------

def balanced_subset(y: torch.Tensor, per_class: int, seed: int = 0, num_classes: int = 10) -> torch.Tensor:
    """Indices of per_class random examples of each class (a random draw, never a slice)."""
    g = torch.Generator().manual_seed(seed)
    idx = []
    for c in range(num_classes):
        pool = (y == c).nonzero().flatten()
        if len(pool) < per_class:
            raise ValueError(f"class {c} has {len(pool)} examples, fewer than per_class={per_class}")
        idx.append(pool[torch.randperm(len(pool), generator=g)[:per_class]])
    return torch.cat(idx)


def train_and_test(x01, y, x_test01, y_test, steps: int, seed: int, batch_size: int = 64) -> float:
    """Train the course classifier for about `steps` steps on (x01, y), return its test accuracy."""
    bs = min(batch_size, len(x01))
    epochs = max(1, math.ceil(steps / (len(x01) // bs)))
    model = train_classifier(x01, y, epochs=epochs, batch_size=bs, seed=seed, progress=False)
    return classifier_accuracy(model, x_test01, y_test)


def augmentation_experiment(x01, y, gen01, gen_y, x_test01, y_test, per_class=(10, 50, 200),
                            seeds=(0, 1, 2), steps: int = 200, progress: bool = True) -> dict:
    """Test accuracy of classifiers trained on per_class real images of each digit, alone ("real")
    or with all the generated ones (gen01, gen_y) added ("real+gen"), for every seed (which picks
    the real subset and the classifier's initial weights). Every run takes the same number of steps.

    Returns {"per_class": [...], "real": [[acc per seed] per n], "real+gen": [...], "gen only": [acc per seed]}.
    """
    out = {"per_class": list(per_class), "real": [], "real+gen": []}
    bar = tqdm(total=len(per_class) * len(seeds) * 2 + len(seeds), desc="classifiers", disable=not progress)
    for n in per_class:
        accs = {"real": [], "real+gen": []}
        for s in seeds:
            idx = balanced_subset(y, n, seed=s)
            accs["real"].append(train_and_test(x01[idx], y[idx], x_test01, y_test, steps, s))
            bar.update(1)
            accs["real+gen"].append(train_and_test(torch.cat([x01[idx], gen01]), torch.cat([y[idx], gen_y]),
                                                   x_test01, y_test, steps, s))
            bar.update(1)
        for k, v in accs.items():
            out[k].append(v)
    out["gen only"] = []
    for s in seeds:
        out["gen only"].append(train_and_test(gen01, gen_y, x_test01, y_test, steps, s))
        bar.update(1)
    bar.close()
    return out


def augmentation_gains(aug: dict) -> list:
    """What the generated digits add, per real set size, from augmentation_experiment's result:
    [{"n", "real": (mean, sd), "mixed": (mean, sd), "gain": mean paired difference, "spread": its sd
    over seeds, "seeds"}]. Paired: the same seed picks the same real subset and initialisation."""
    rows = []
    for n, real, both in zip(aug["per_class"], aug["real"], aug["real+gen"]):
        gain, spread = mean_spread([b - r for r, b in zip(real, both)])
        rows.append({"n": n, "real": mean_spread(real), "mixed": mean_spread(both), "gain": gain,
                     "spread": spread, "seeds": len(real)})
    return rows


# text to digit with the course's CLIP ------------------------------------------------------

@torch.no_grad()
def digit_prototypes(clip, x01: torch.Tensor, y: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """(num_classes, D) unit-norm mean CLIP image embedding of each digit's images x01 (N, 1, H, W)."""
    e = image_embeds(clip, x01).cpu()
    return F.normalize(torch.stack([e[y == c].mean(0) for c in range(num_classes)]), dim=-1)


@torch.no_grad()
def read_prompt(clip, prompts, prototypes: torch.Tensor) -> torch.Tensor:
    """Which digit does CLIP see in each prompt? Softmax over digits of logit_scale x cosine between
    the prompt's text embedding and each digit's image prototype (digit_prototypes): the same
    image-text similarity CLIP was trained on. prompts: a string or a list of M strings.
    Returns probabilities (M, num_classes); .argmax(1) is the digit it reads."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    return (clip.logit_scale * text_embeds(clip, prompts).cpu() @ prototypes.T).softmax(-1)


def read_accuracy(clip, prototypes: torch.Tensor, templates) -> tuple:
    """Share of prompts, every template with every digit as a word and as a numeral, in which CLIP
    reads the digit meant (read_prompt). Returns (accuracy, number of prompts)."""
    prompts = [p for tpl in templates for names in (DIGIT_NAMES, DIGIT_NUMERALS) for p in class_prompts(tpl, names)]
    meant = torch.arange(10).repeat(len(prompts) // 10)
    return (read_prompt(clip, prompts, prototypes).argmax(1) == meant).float().mean().item(), len(prompts)


def unknown_words(clip, prompt: str) -> list:
    """The words of prompt that CLIP's word-level tokenizer does not know (they read as [UNK])."""
    tok = clip.tokenizer
    if tok.unk_token is None or type(tok.backend_tokenizer.model).__name__ != "WordLevel":
        return []                                      # sub-word tokenizers (OpenAI's BPE) know every word
    words = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(tok.backend_tokenizer.normalizer.normalize_str(prompt))
    return [w for w, _ in words if tok.convert_tokens_to_ids(w) == tok.unk_token_id]


def text_to_digits(pipe, clip, prompt: str, prototypes: torch.Tensor, n: int = 4, steps: int = 25,
                   clip_scale: float = 0.0, seed: int = 0):
    """A prompt -> n generated digits: CLIP reads the digit (read_prompt), the diffusion model draws
    it; clip_scale > 0 also steers every step towards the prompt itself (helpers.clip.clip_guidance).
    Returns (images (n, 1, 28, 28) in [0, 1], digit read, its probabilities (10,))."""
    probs = read_prompt(clip, prompt, prototypes)[0]
    digit = int(probs.argmax())
    g = torch.Generator().manual_seed(seed)
    if clip_scale:
        x = clip_guided_sample(pipe, clip, [digit] * n, [prompt] * n, clip_scale, steps, generator=g)
    else:
        x = pipe.sample([digit] * n, steps=steps, generator=g)
    return x, digit, probs
