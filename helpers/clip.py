"""CLIP (Radford et al. 2021) for the course: a small one trained on MNIST, or a real one, one code path.

    clip = load_clip()                                      # data/clip-mnist, or a hub id / local path
    s = clip_scores(clip, x01, ["a handwritten 7"] * len(x01))   # (N,) 100 x cosine similarity
    probs = zero_shot(clip, x01)                            # (N, 10), held-out prompt wordings

The shipped model is a transformers ``CLIPModel`` with small towers (a ViT over 4x4 patches of the
28x28 digit, a 2-layer text transformer), trained contrastively on the train split with captions
from ``TRAIN_TEMPLATES``. Its tokenizer is a word-level ``tokenizers`` model over the caption
vocabulary, wrapped as a ``PreTrainedTokenizerFast``. CLIP's text tower pools the hidden state at
the end-of-text token, so the tokenizer's post-processor appends ``<|endoftext|>`` and the config's
``eos_token_id`` is its id. ``HELDOUT_TEMPLATES`` are wordings never seen in training: zero-shot
accuracy is measured with them.

Images enter as float tensors (N, 1 or 3, H, W) in [0, 1] and are resized, converted to RGB and
normalised with the model's own image-processor settings in torch (``pixel_values``), so the same
functions serve a 224x224 OpenAI CLIP and gradients flow back to the pixels (CLIP guidance).
"""
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checkpoint import DATA_DIR
from .classifier import random_shift
from .data import unnormalize_to_zero_to_one
from .pipeline import DIGIT_NAMES, check_labels
from .samplers import denoise, make_sampler
from .unet import autocast, pick_device

DEFAULT_CLIP = DATA_DIR / "clip-mnist"
TRAINING_RECORD = "training.json"          # how the shipped model was trained (data/train_clip.py)
DIGIT_NUMERALS = [str(k) for k in range(10)]

# captions -------------------------------------------------------------------------------------

# "{}" is filled with a digit's word ("seven") or numeral ("7"), chosen at random in training.
TRAIN_TEMPLATES = (
    "{}",
    "a {}",
    "a handwritten {}",
    "the digit {}",
    "the number {}",
    "a photo of the number {}",
    "a drawing of a {}",
    "the number {} written by hand",
    "a scan of a handwritten {}",
    "an image of a {}",
    "a black and white picture of the digit {}",
    "a {} written with a pen",
    "a small photo of a {}",
    "a blurry picture of the number {}",
)
# Zero-shot prompts: new wordings of the same words (no template is shared with TRAIN_TEMPLATES).
HELDOUT_TEMPLATES = (
    "a photo of the digit {}",
    "a picture of a handwritten {}",
    "an image of the number {}",
    "the handwritten digit {}",
    "a drawing of the number {}",
)


def class_prompts(template: str, names=DIGIT_NAMES) -> list:
    """The 10 prompts of one template, e.g. class_prompts("a handwritten {}") -> [..., "a handwritten nine"]."""
    if "{}" not in template:
        raise ValueError(f"a prompt template needs a '{{}}' for the digit, got {template!r}")
    return [template.format(n) for n in names]


def prompts_for(labels, template: str = "a handwritten {}", names=DIGIT_NAMES) -> list:
    """One prompt per label: prompts_for([7, 1]) -> ["a handwritten seven", "a handwritten one"]."""
    return [template.format(names[k]) for k in check_labels(labels).tolist()]


def all_captions(templates=TRAIN_TEMPLATES) -> list:
    """Every training caption: template x (word, numeral) x digit, indexed [(i * 2 + numeral) * 10 + digit]."""
    return [c for tpl in templates for names in (DIGIT_NAMES, DIGIT_NUMERALS) for c in class_prompts(tpl, names)]


# tokenizer ------------------------------------------------------------------------------------

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "<|startoftext|>", "<|endoftext|>"


def build_tokenizer(captions, max_length: int = 16):
    """A word-level PreTrainedTokenizerFast over the captions' words: "<|startoftext|> words <|endoftext|>".

    Lower-cased, split on whitespace and punctuation; unknown words map to [UNK]. EOS gets the
    highest id, as in OpenAI's vocabulary, so both of CLIP's pooling rules find it.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    words = sorted({w for c in captions for w, _ in pre.pre_tokenize_str(norm.normalize_str(c))})
    vocab = {tok: i for i, tok in enumerate([PAD, UNK, BOS, *words, EOS])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tk.normalizer, tk.pre_tokenizer = norm, pre
    tk.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=max_length)


# the small model ------------------------------------------------------------------------------

def small_clip_config(tokenizer, width: int = 64, vision_layers: int = 3, text_layers: int = 2,
                      patch_size: int = 4, projection_dim: int = 64):
    """A CLIPConfig sized for 28x28 digits: ViT over (28 / patch_size)^2 patches, RGB input, as OpenAI's."""
    from transformers import CLIPConfig

    common = dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=max(1, width // 32))
    text = dict(common, vocab_size=len(tokenizer), num_hidden_layers=text_layers,
                max_position_embeddings=tokenizer.model_max_length, pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = dict(common, image_size=28, patch_size=patch_size, num_channels=3, num_hidden_layers=vision_layers)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


def mnist_image_processor(image_size: int = 28):
    """A CLIPImageProcessor for 28x28 digits: RGB conversion, [0, 255] -> [-1, 1]."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": image_size},
                              crop_size={"height": image_size, "width": image_size},
                              image_mean=[0.5] * 3, image_std=[0.5] * 3)


# loading and saving ---------------------------------------------------------------------------

@dataclass
class Clip:
    """A CLIPModel with its tokenizer and image processor (the trio ``from_pretrained`` gives)."""
    model: "torch.nn.Module"
    tokenizer: object
    image_processor: object
    name: str = ""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def logit_scale(self) -> float:
        return self.model.logit_scale.exp().item()

    def to(self, device):
        self.model.to(pick_device(device))
        return self


def load_clip(name_or_path: "str | Path | None" = None, device=None) -> Clip:
    """The shipped CLIP (default: data/clip-mnist) or any CLIP hub id / local folder, offline if cached.

    Raises FileNotFoundError naming the folder when the shipped model is missing.
    """
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    name = str(name_or_path or DEFAULT_CLIP)
    if name_or_path is None and not (DEFAULT_CLIP / "config.json").is_file():
        raise FileNotFoundError(f"the course's CLIP is missing: {DEFAULT_CLIP}. Train it with "
                                f"`python data/train_clip.py` (or restore it with git).")
    model = CLIPModel.from_pretrained(name).eval()
    clip = Clip(model, AutoTokenizer.from_pretrained(name), AutoImageProcessor.from_pretrained(name), name)
    return clip.to(device)


def save_clip(clip: Clip, folder: "str | Path", **record) -> Path:
    """save_pretrained of model, tokenizer and image processor; record (if any) goes to training.json."""
    folder = Path(folder)
    clip.model.save_pretrained(folder)
    clip.tokenizer.save_pretrained(folder)
    tok_cfg = folder / "tokenizer_config.json"             # transformers 5 writes its new class name;
    cfg = json.loads(tok_cfg.read_text())                  # PreTrainedTokenizerFast loads in 4.x and 5.x
    if cfg.get("tokenizer_class") == "TokenizersBackend":
        tok_cfg.write_text(json.dumps({**cfg, "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2))
    clip.image_processor.save_pretrained(folder)
    if record:
        (folder / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    return folder


# embeddings and scores ------------------------------------------------------------------------

def _check_images(images01: torch.Tensor) -> torch.Tensor:
    if not isinstance(images01, torch.Tensor) or images01.dim() != 4 or images01.shape[1] not in (1, 3):
        shape = tuple(images01.shape) if isinstance(images01, torch.Tensor) else type(images01).__name__
        raise ValueError(f"images must be a float tensor (N, 1 or 3, H, W) in [0, 1], got {shape}")
    return images01.float()


def pixel_values(clip: Clip, images01: torch.Tensor) -> torch.Tensor:
    """(N, 1|3, H, W) in [0, 1] -> the model's input (N, C, S, S): the image processor's resize
    (bicubic), centre crop, RGB conversion and normalisation, written in torch so it is differentiable."""
    p, x = clip.image_processor, _check_images(images01).to(clip.device)
    if p.do_resize:
        s = p.size.shortest_edge or p.size.height
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    if p.do_center_crop:
        h, w = p.crop_size.height, p.crop_size.width
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        x = x[..., top:top + h, left:left + w]
    c = clip.model.config.vision_config.num_channels
    if x.shape[1] != c:
        x = x.expand(-1, c, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    mean = torch.tensor(p.image_mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(p.image_std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def _pooled(out) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4) or an output with pooler_output (5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def image_embeds(clip: Clip, images01: torch.Tensor) -> torch.Tensor:
    """Unit-norm image embeddings (N, D); differentiable (wrap in torch.no_grad() when not needed)."""
    return F.normalize(_pooled(clip.model.get_image_features(pixel_values=pixel_values(clip, images01))), dim=-1)


def text_embeds(clip: Clip, texts) -> torch.Tensor:
    """Unit-norm text embeddings (M, D) of a list of M strings."""
    if isinstance(texts, str) or not len(texts):
        raise ValueError(f"texts must be a non-empty list of strings, got {texts!r}")
    limit = min(clip.tokenizer.model_max_length, clip.model.config.text_config.max_position_embeddings)
    tok = clip.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
    tok = {k: v.to(clip.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
    return F.normalize(_pooled(clip.model.get_text_features(**tok)), dim=-1)


@torch.no_grad()
def clip_scores(clip: Clip, images01: torch.Tensor, texts, batch_size: int = 500) -> torch.Tensor:
    """CLIP score of each image against its own text: 100 x cosine similarity, (N,) on CPU.

    texts: one string for all images, or a list of N strings.
    """
    images01 = _check_images(images01)
    texts = [texts] * len(images01) if isinstance(texts, str) else list(texts)
    if len(texts) != len(images01):
        raise ValueError(f"got {len(images01)} images but {len(texts)} texts: give one text per image")
    # BEGIN SOLUTION clip_score
    out = []
    for s in range(0, len(images01), batch_size):
        e_img = image_embeds(clip, images01[s:s + batch_size])
        out.append(100 * (e_img * text_embeds(clip, texts[s:s + batch_size])).sum(-1))
    return torch.cat(out).float().cpu()
    # END SOLUTION


@torch.no_grad()
def class_embeds(clip: Clip, prompts=HELDOUT_TEMPLATES, names=DIGIT_NAMES) -> torch.Tensor:
    """(10, D) unit-norm class embeddings. prompts: templates with "{}" (their embeddings are averaged,
    a prompt ensemble) or exactly 10 prompts, one per digit."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if all("{}" in p for p in prompts):
        e = torch.stack([text_embeds(clip, class_prompts(p, names)) for p in prompts]).mean(0)
    elif len(prompts) == 10 and not any("{}" in p for p in prompts):
        e = text_embeds(clip, prompts)
    else:
        raise ValueError("prompts must be templates that each contain '{}', or exactly 10 prompts (one per digit)")
    return F.normalize(e, dim=-1)


@torch.no_grad()
def zero_shot(clip: Clip, images01: torch.Tensor, prompts=HELDOUT_TEMPLATES, names=DIGIT_NAMES,
              batch_size: int = 500) -> torch.Tensor:
    """Zero-shot classification: softmax over the 10 digits of logit_scale x cosine similarity.

    Returns probabilities (N, 10) on CPU; .argmax(1) is the predicted digit.
    """
    images01 = _check_images(images01)
    e_cls = class_embeds(clip, prompts, names)
    logits = [clip.logit_scale * image_embeds(clip, images01[s:s + batch_size]) @ e_cls.T
              for s in range(0, len(images01), batch_size)]
    return torch.cat(logits).float().softmax(-1).cpu()


def zero_shot_accuracy(clip: Clip, images01: torch.Tensor, labels, prompts=HELDOUT_TEMPLATES,
                       names=DIGIT_NAMES) -> float:
    """Fraction of images (N, C, H, W) in [0, 1] whose zero-shot prediction equals its label (N,)."""
    return (zero_shot(clip, images01, prompts, names).argmax(1) == check_labels(labels)).float().mean().item()


# training -------------------------------------------------------------------------------------

def train_clip(x01: torch.Tensor, y: torch.Tensor, epochs: float = 5, batch_size: int = 128, lr: float = 2e-3,
               weight_decay: float = 0.05, max_shift: int = 2, seed: int = 0, device=None,
               bf16: bool = True, progress: bool = True, x_val=None, y_val=None, **config_kwargs):
    """Contrastive training of a small CLIP on digits x01 (N, 1, 28, 28) in [0, 1] with labels y (N,).

    Each image is paired with a random caption of its digit (TRAIN_TEMPLATES, word or numeral)
    and shifted by up to max_shift pixels; the loss is CLIPModel's symmetric InfoNCE
    (return_loss=True). AdamW with one-cycle learning rate. With x_val, y_val (a few thousand digits
    in [0, 1]) the zero-shot accuracy with held-out prompts is measured after each epoch and at the
    end. Returns (Clip, history).
    """
    from transformers import CLIPModel

    device = pick_device(device)
    torch.manual_seed(seed)
    captions = all_captions()
    tokenizer = build_tokenizer(captions)
    clip = Clip(CLIPModel(small_clip_config(tokenizer, **config_kwargs)), tokenizer, mnist_image_processor()).to(device)
    tok = tokenizer(captions, padding=True, return_tensors="pt")
    ids, mask = tok["input_ids"].to(device), tok["attention_mask"].to(device)
    n_pairs = len(TRAIN_TEMPLATES) * 2                     # (template, word|numeral) per digit
    steps_per_epoch = len(x01) // batch_size
    total = max(1, int(epochs * steps_per_epoch))
    opt = torch.optim.AdamW(clip.model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    history, t0 = {"step": [], "loss": [], "logit_scale": [], "val_step": [], "val_zero_shot": []}, time.time()
    bar = tqdm(range(total), disable=not progress, desc="CLIP training")
    for k in bar:
        if k % steps_per_epoch == 0:
            if k and x_val is not None:
                _validate(clip, x_val, y_val, k, history, bar)
            clip.model.train()
            perm = torch.randperm(len(x01), generator=g)
        idx = perm[(k % steps_per_epoch) * batch_size:(k % steps_per_epoch + 1) * batch_size]
        cap = torch.randint(n_pairs, (len(idx),), generator=g) * 10 + y[idx]
        x = random_shift(x01[idx], max_shift, g) if max_shift else x01[idx]
        with autocast(device, bf16):
            loss = clip.model(input_ids=ids[cap.to(device)], attention_mask=mask[cap.to(device)],
                              pixel_values=pixel_values(clip, x), return_loss=True).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():                              # CLIP's clamp: temperature at most 100
            clip.model.logit_scale.clamp_(0, math.log(100))
        if k % 50 == 0 or k == total - 1:
            history["step"].append(k)
            history["loss"].append(loss.item())
            history["logit_scale"].append(clip.logit_scale)
    history["train_seconds"] = time.time() - t0
    if x_val is not None:
        _validate(clip, x_val, y_val, total, history, bar)
    clip.model.eval()
    return clip, history


def _validate(clip, x_val, y_val, step, history, bar):
    clip.model.eval()
    history["val_step"].append(step)
    history["val_zero_shot"].append(zero_shot_accuracy(clip, x_val, y_val))
    bar.set_postfix(val_zero_shot=f"{history['val_zero_shot'][-1]:.3f}")


# judging generated digits ------------------------------------------------------------------

def judge_digits(clip: Clip, images01: torch.Tensor, labels, template: str = "a handwritten {}",
                 classifier=None) -> dict:
    """Every judgement of N generated digits that notebook 05 compares: CLIP and the classifier.

    images01: (N, 1, 28, 28) in [0, 1]; labels: the requested digits (N,). Returns {"score": (N,)
    CLIP score against the own prompt, "score_other": (N,) mean against the other nine digits'
    prompts, "pred_clip", "pred_clf": (N,) readings (zero-shot; the classifier's 10 = not a digit),
    "zero_shot", "classifier": accuracy_report dicts, "clip_per_digit", "other_per_digit": (10,)
    mean scores, "conf_per_digit": (10,) the classifier's mean probability of the requested digit,
    "rank_clip", "rank_clf": the ten digits, easiest first (the classifier's ties broken by its
    confidence)}.
    """
    from .classifier import predict
    from .evaluate import accuracy_report, default_classifier
    y = check_labels(labels)
    score = clip_scores(clip, images01, prompts_for(y, template))
    with torch.no_grad():
        score_all = 100 * image_embeds(clip, images01) @ text_embeds(clip, class_prompts(template)).T   # (N, 10)
    score_other = score_all.cpu().masked_fill(F.one_hot(y, 10).bool(), float("nan")).nanmean(1)
    p_clip, (p_clf, _) = zero_shot(clip, images01), predict(classifier or default_classifier(), images01)
    per = lambda v: torch.stack([v[y == d].float().mean() for d in range(10)])
    zs, clf = accuracy_report(p_clip, y), accuracy_report(p_clf, y)
    conf = per(p_clf.gather(1, y[:, None])[:, 0])
    clip_digit = per(score)
    return {"score": score, "score_other": score_other, "pred_clip": p_clip.argmax(1), "pred_clf": p_clf.argmax(1),
            "zero_shot": zs, "classifier": clf, "clip_per_digit": clip_digit, "other_per_digit": per(score_other),
            "conf_per_digit": conf, "rank_clip": sorted(range(10), key=lambda d: -clip_digit[d].item()),
            "rank_clf": sorted(range(10), key=lambda d: (-clf["per_digit"][d], -conf[d].item()))}


# improving generation with CLIP ---------------------------------------------------------------

def best_of_n(clip: Clip, candidates01: torch.Tensor, texts):
    """Best-of-n reranking: for each of N prompts, keep the candidate with the highest CLIP score.

    candidates01: (K, N, C, H, W) in [0, 1], K candidates per prompt; texts: N strings.
    Returns (best (N, C, H, W), scores (K, N), index (N,) of the chosen candidate).
    """
    if candidates01.dim() != 5:
        raise ValueError(f"candidates must be (K, N, C, H, W), got {tuple(candidates01.shape)}")
    K, N = candidates01.shape[:2]
    texts = [texts] * N if isinstance(texts, str) else list(texts)
    scores = clip_scores(clip, candidates01.flatten(0, 1), texts * K).view(K, N)
    index = scores.argmax(0)
    return candidates01[index, torch.arange(N)], scores, index


def clip_guidance(clip: Clip, texts, scale: float):
    """A hook for the denoise loop that pushes samples towards higher CLIP similarity with texts:
    guide(step, schedule) moves step.x in place.

    At each reverse step the predicted clean image x0_hat (in [-1, 1]) gets a gradient step on the
    CLIP score g = grad_{x0_hat} 100 cos(CLIP(x0_hat), CLIP(text)). As DDIM builds
    x_{t_prev} = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps_hat, moving x0_hat by
    scale * g moves x_{t_prev} by sqrt(alpha_bar_prev) * scale * g (cf. the x0-space guidance of
    universal guidance, Bansal et al. 2023). The U-Net is not differentiated, so a step costs one
    CLIP forward + backward. The last step (t_prev = -1) is left alone, so the diffusion model has
    the last word on the pixels.
    """
    with torch.no_grad():
        e_text = text_embeds(clip, [texts] if isinstance(texts, str) else list(texts))

    def guide(step, schedule):
        if step.t_prev < 0 or scale == 0:
            return
        with torch.enable_grad():
            x0 = step.x0.detach().float().requires_grad_(True)
            score = 100 * (image_embeds(clip, unnormalize_to_zero_to_one(x0)) * e_text.to(x0.device)).sum()
            (grad,) = torch.autograd.grad(score, x0)
        step.x = step.x + scale * schedule.alpha_bar_at(step.t_prev, step.x).sqrt() * grad.to(step.x.dtype)

    return guide


def clip_loss(clip: Clip, weight: float, t_max: int = 600, template: str = "a handwritten {}"):
    """A training loss term for Trainer.train_step(extra_loss=...): CLIP during training.

    For the batch's labelled images with t <= t_max it predicts x0_hat from x_t (one more U-Net
    pass; x_t as in the diffusion loss) and adds weight * (1 - cos(CLIP(x0_hat), CLIP(prompt))):
    the gradient pulls the network's clean-image estimate towards what CLIP reads as the requested
    digit. CLIP's weights are frozen (requires_grad off). Returns f(model, schedule, x0, y, t, noise).
    """
    clip.model.requires_grad_(False)
    with torch.no_grad():
        e_class = text_embeds(clip, class_prompts(template))            # (10, D)

    def loss(model, schedule, x0, y, t, noise):
        keep = (y != model.null_label) & (t <= t_max)
        if not keep.any():
            return x0.new_zeros(())
        x_t = schedule.add_noise(x0[keep], noise[keep], t[keep])
        out = model(x_t, t[keep], y[keep]).float()
        x0_hat = schedule.convert(out, x_t, t[keep].cpu(), model.config.prediction).x0.clamp(-1, 1)
        cos = (image_embeds(clip, unnormalize_to_zero_to_one(x0_hat)) * e_class.to(x0.device)[y[keep]]).sum(-1)
        return weight * (1 - cos).sum() / len(y)

    return loss


def clip_guided_sample(pipe, clip: Clip, labels, texts=None, scale: float = 0.2, steps: int = 50,
                       sampler: str = "ddim", guidance: "float | None" = None, generator=None,
                       x_T: "torch.Tensor | None" = None) -> torch.Tensor:
    """Sample one digit per label with CLIP guidance (see clip_guidance); scale = 0 is plain sampling.

    texts: the prompts (default: "a handwritten {digit}" per label). guidance: the classifier-free
    scale (None: the pipeline's). Returns (N, 1, 28, 28) in [0, 1] on CPU.

    With the shipped models, scales of about 0.1 to 0.3 help most; much larger ones raise the CLIP
    score with adversarial pixels that CLIP likes and the classifier does not.
    """
    y = check_labels(labels)
    guide = clip_guidance(clip, prompts_for(y) if texts is None else texts, scale)
    x_T = pipe.noise(len(y), generator) if x_T is None else x_T
    for step in denoise(pipe.denoiser(), make_sampler(sampler, pipe.schedule, steps), x_T, y,
                        pipe.guidance if guidance is None else guidance, generator):
        guide(step, pipe.schedule)
    return unnormalize_to_zero_to_one(step.x.clamp(-1, 1)).cpu()
