"""The course's CLIP: tokenizer and config agree on end-of-text, Auto* round trips, the OpenAI-shaped
path (224x224 RGB, BPE tokenizer) on a tiny random model, CLIP guidance and reranking, and the
shipped model's zero-shot accuracy with held-out prompts."""
import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from PIL import Image
from transformers import (AutoImageProcessor, AutoProcessor, AutoTokenizer, CLIPConfig, CLIPImageProcessor,
                          CLIPModel, CLIPTokenizer)

from helpers import NoiseSchedule, Pipeline, Trainer, TrainConfig, UNetConfig
from helpers.clip import (DEFAULT_CLIP, DIGIT_NUMERALS, HELDOUT_TEMPLATES, TRAIN_TEMPLATES, Clip, all_captions,
                          best_of_n, build_tokenizer, class_prompts, clip_guidance, clip_guided_sample, clip_loss,
                          clip_scores, image_embeds, judge_digits, load_clip, mnist_image_processor, pixel_values,
                          prompts_for, save_clip, small_clip_config, text_embeds, zero_shot, zero_shot_accuracy)
from helpers.data import mnist_tensors, random_subset
from helpers.samplers import Step, make_sampler
from helpers.data import unnormalize_to_zero_to_one


@pytest.fixture(scope="module")
def digits():
    """16 real test digits (16, 1, 28, 28) in [0, 1] (exact multiples of 1/255) and their labels."""
    x, y = random_subset(*mnist_tensors("test"), 16, seed=1)
    return (unnormalize_to_zero_to_one(x) * 255).round() / 255, y


@pytest.fixture(scope="module")
def tiny_clip():
    """A randomly initialised CLIP of the shipped model's shape, but tiny."""
    torch.manual_seed(0)
    tok = build_tokenizer(all_captions())
    cfg = small_clip_config(tok, width=32, vision_layers=1, text_layers=1, patch_size=7, projection_dim=16)
    return Clip(CLIPModel(cfg).eval(), tok, mnist_image_processor(), "tiny")


def to_uint8(x01):
    return (x01 * 255).round().byte().numpy()


# captions and tokenizer -----------------------------------------------------------------------

def test_heldout_prompts_are_new_wordings_of_known_words():
    assert not set(TRAIN_TEMPLATES) & set(HELDOUT_TEMPLATES)
    tok = build_tokenizer(all_captions())
    for tpl in HELDOUT_TEMPLATES:
        for p in class_prompts(tpl) + class_prompts(tpl, DIGIT_NUMERALS):
            assert tok.unk_token_id not in tok(p)["input_ids"], p
    assert prompts_for([7, 1]) == ["a handwritten seven", "a handwritten one"]
    with pytest.raises(ValueError, match="label"):
        prompts_for([10])


def test_tokenizer_appends_eos_and_config_matches_it():
    tok = build_tokenizer(all_captions())
    ids = tok(["a handwritten 7", "the number seven written by hand"], padding=True)["input_ids"]
    assert ids[0][0] == tok.bos_token_id and ids[0][4] == tok.eos_token_id and ids[0][5] == tok.pad_token_id
    assert ids[1][-1] == tok.eos_token_id
    assert tok("7 zebra")["input_ids"][2] == tok.unk_token_id
    assert tok.eos_token_id == len(tok) - 1                       # highest id, as in OpenAI's vocabulary
    cfg = small_clip_config(tok)
    assert cfg.text_config.eos_token_id == tok.eos_token_id != 2  # 2 would select the legacy argmax pooling
    assert cfg.text_config.vocab_size == len(tok)


def test_text_tower_pools_at_eos_so_padding_does_not_matter(tiny_clip):
    with torch.no_grad():
        alone = text_embeds(tiny_clip, ["a 7"])
        padded = text_embeds(tiny_clip, ["a 7", "a black and white picture of the digit seven"])[:1]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


# saving and loading ---------------------------------------------------------------------------

def test_round_trip_through_auto_classes(tiny_clip, digits, tmp_path):
    x01, y = digits
    save_clip(tiny_clip, tmp_path, note="test")
    assert (tmp_path / "training.json").is_file()
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    model = CLIPModel.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    proc = AutoImageProcessor.from_pretrained(tmp_path)
    assert model.config.text_config.eos_token_id == tok.eos_token_id
    assert tok("a handwritten 7")["input_ids"] == tiny_clip.tokenizer("a handwritten 7")["input_ids"]
    # PIL images and uint8 arrays with a channel axis give the pixels our torch path computes
    want = pixel_values(tiny_clip, x01[:3])
    pil = proc([Image.fromarray(a[0]) for a in to_uint8(x01[:3])], return_tensors="pt")["pixel_values"]
    arr = proc(to_uint8(x01[:3]), return_tensors="pt")["pixel_values"]              # (3, 1, 28, 28)
    torch.testing.assert_close(pil, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(arr, want, atol=1e-5, rtol=0)
    both = AutoProcessor.from_pretrained(tmp_path)(text=["a 7"], images=Image.fromarray(to_uint8(x01[0])[0]),
                                                   return_tensors="pt")
    with torch.no_grad():
        e = model.get_image_features(pixel_values=both["pixel_values"])
        e = e if isinstance(e, torch.Tensor) else e.pooler_output
    torch.testing.assert_close(torch.nn.functional.normalize(e, dim=-1), image_embeds(tiny_clip, x01[:1]).detach(),
                               atol=1e-5, rtol=1e-4)
    loaded = load_clip(tmp_path)
    torch.testing.assert_close(clip_scores(loaded, x01, "a handwritten 7"), clip_scores(tiny_clip, x01, "a handwritten 7"))
    torch.testing.assert_close(zero_shot(loaded, x01), zero_shot(tiny_clip, x01))


def test_missing_shipped_model_names_the_folder(monkeypatch, tmp_path):
    import helpers.clip as hc
    monkeypatch.setattr(hc, "DEFAULT_CLIP", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        hc.load_clip()


# an OpenAI-shaped CLIP: BPE tokenizer, eos_token_id = 2 (legacy pooling), RGB input of 32 / 224 px --

def openai_shaped(folder, image_size):
    chars = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(["<|startoftext|>"] + chars + [c + "</w>" for c in chars] + ["<|endoftext|>"])}
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    cfg = CLIPConfig(text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=77, eos_token_id=2),
                     vision_config=dict(image_size=image_size, patch_size=image_size // 4, hidden_size=32,
                                        intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
                     projection_dim=16)
    CLIPModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size=image_size).save_pretrained(folder)


@pytest.mark.parametrize("image_size", [32, 224])
def test_openai_shaped_clip_takes_digits_through_the_same_path(digits, tmp_path, image_size):
    x01, y = digits
    openai_shaped(tmp_path, image_size)
    clip = load_clip(tmp_path)
    pv = pixel_values(clip, x01)
    assert pv.shape == (16, 3, image_size, image_size)
    ref = clip.image_processor([Image.fromarray(a[0]) for a in to_uint8(x01)], return_tensors="pt")["pixel_values"]
    assert (pv - ref).abs().mean() < 0.02 * (ref.max() - ref.min())       # same resize, RGB and normalisation
    s = clip_scores(clip, x01, prompts_for(y))
    assert s.shape == (16,) and torch.isfinite(s).all() and s.abs().max() <= 100
    p = zero_shot(clip, x01, ["a photo of the number {}"])
    assert p.shape == (16, 10)
    torch.testing.assert_close(p.sum(1), torch.ones(16))


def test_bad_inputs_are_named(tiny_clip, digits):
    x01, _ = digits
    with pytest.raises(ValueError, match="one text per image"):
        clip_scores(tiny_clip, x01, ["a 7", "a 1"])
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        clip_scores(tiny_clip, x01[:, 0], "a 7")
    with pytest.raises(ValueError, match="10 prompts"):
        zero_shot(tiny_clip, x01, ["a 7", "a 1"])


# improving generation -------------------------------------------------------------------------

def test_best_of_n_picks_the_highest_scoring_candidate(tiny_clip, digits):
    x01, _ = digits
    candidates = x01.view(4, 4, 1, 28, 28)                         # K = 4 candidates for N = 4 prompts
    texts = prompts_for([3, 1, 4, 1])
    best, scores, index = best_of_n(tiny_clip, candidates, texts)
    assert best.shape == (4, 1, 28, 28) and scores.shape == (4, 4) and index.shape == (4,)
    torch.testing.assert_close(clip_scores(tiny_clip, best, texts), scores.max(0).values)
    for n in range(4):
        assert torch.equal(best[n], candidates[scores[:, n].argmax(), n])


class ShrinkDenoiser(torch.nn.Module):
    """A stand-in for the U-Net whose clean-image guess x0_hat = 0.5 tanh(x_t) never hits the [-1, 1] clip,
    so a nudge at one step shows in the final sample (a random U-Net saturates every pixel)."""

    def __init__(self, schedule):
        super().__init__()
        self.config, self.null_label, self.schedule = UNetConfig(), 10, schedule
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, y):
        ab = self.schedule.alpha_bar_at(t, x_t)
        return (x_t - ab.sqrt() * 0.5 * torch.tanh(x_t)) / (1 - ab).sqrt()


@pytest.fixture(scope="module")
def tiny_pipe():
    schedule = NoiseSchedule(100, "cosine")
    return Pipeline(ShrinkDenoiser(schedule), schedule)


def test_clip_guidance_step_raises_the_clip_score(tiny_clip, tiny_pipe, digits):
    x01, y = digits
    smp = make_sampler("ddim", tiny_pipe.schedule, 10)
    texts = prompts_for(y[:4])
    guide = clip_guidance(tiny_clip, texts, scale=0.05)
    x0 = x01[:4] * 2 - 1
    t = int(smp.timesteps[5])
    step = Step(5, t, smp.prev_timestep(t), torch.zeros_like(x0), x0)
    guide(step, tiny_pipe.schedule)
    delta = step.x                                                  # = scale sqrt(alpha_bar_prev) grad
    ab = tiny_pipe.schedule.alpha_bar_at(smp.prev_timestep(t), x0)
    before = clip_scores(tiny_clip, x01[:4], texts)
    after = clip_scores(tiny_clip, unnormalize_to_zero_to_one(x0 + 0.2 * delta / ab.sqrt()), texts)
    assert (after > before).all()
    last = Step(9, int(smp.timesteps[-1]), -1, torch.zeros_like(x0), x0)
    guide(last, tiny_pipe.schedule)
    assert last.x.abs().max() == 0                                  # the last step is left alone


def test_clip_guided_sampling_changes_samples_and_scale_zero_is_plain_sampling(tiny_clip, tiny_pipe):
    labels = [1, 7, 3]
    x_T = tiny_pipe.noise(3, torch.Generator().manual_seed(0))
    plain = tiny_pipe.sample(labels, steps=5, x_T=x_T)
    same = clip_guided_sample(tiny_pipe, tiny_clip, labels, scale=0.0, steps=5, x_T=x_T)
    guided = clip_guided_sample(tiny_pipe, tiny_clip, labels, scale=5.0, steps=5, x_T=x_T)
    assert guided.shape == (3, 1, 28, 28) and 0 <= guided.min() and guided.max() <= 1
    torch.testing.assert_close(same, plain)
    assert (guided - plain).abs().max() > 1e-3


# the shipped model ----------------------------------------------------------------------------

@pytest.mark.skipif(not (DEFAULT_CLIP / "config.json").is_file(), reason="data/clip-mnist is not trained yet")
def test_shipped_clip_zero_shot_accuracy_with_heldout_prompts():
    clip = load_clip()
    x, y = random_subset(*mnist_tensors("test"), 1000, seed=123)
    assert zero_shot_accuracy(clip, unnormalize_to_zero_to_one(x), y, HELDOUT_TEMPLATES) >= 0.95


# CLIP during training and the judgements of notebook 05 ---------------------------------------

def test_clip_loss_pulls_x0_hat_towards_the_prompt_and_skips_null_labels(tiny_clip, digits):
    x01, y = digits
    trainer = Trainer(UNetConfig(base=8, mults=(1, 2), prediction="v"), TrainConfig(batch_size=8, T=100, sample_steps=0))
    loss = clip_loss(tiny_clip, 1.0, t_max=50)
    x0, noise, t = x01[:8] * 2 - 1, torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.full((8,), 10)
    value = loss(trainer.model, trainer.schedule, x0, y[:8], t, noise)
    assert value.dim() == 0 and 0 < value.item() <= 2                       # 1 - cos lies in [0, 2]
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters())
    assert all(p.grad is None for p in tiny_clip.model.parameters())        # CLIP stays frozen
    null = torch.full((8,), trainer.model.null_label)
    assert loss(trainer.model, trainer.schedule, x0, null, t, noise).item() == 0
    assert loss(trainer.model, trainer.schedule, x0, y[:8], torch.full((8,), 60), noise).item() == 0   # t > t_max


def test_train_step_adds_the_extra_loss_on_the_same_batch(digits):
    x01, y = digits
    make = lambda: Trainer(UNetConfig(base=8, mults=(1, 2)), TrainConfig(batch_size=8, T=100, sample_steps=0))
    seen = []
    def extra(value):
        def f(model, schedule, x0, y0, t, noise):
            seen.append((x0, y0, t, noise))
            return torch.tensor(value)
        return f
    plain = make().train_step(x01 * 2 - 1, y, total=10, extra_loss=extra(0.0))
    more = make().train_step(x01 * 2 - 1, y, total=10, extra_loss=extra(5.0))
    assert abs(more - plain - 5.0) < 1e-5
    for a, b in zip(*seen):
        torch.testing.assert_close(a, b)


def test_judge_digits_returns_both_judges_per_image_and_per_digit(tiny_clip):
    x_test, y_test = mnist_tensors("test")
    x = torch.stack([x_test[(y_test == d).nonzero()[k, 0]] for k in range(4) for d in range(10)])   # 4 of each
    y = torch.arange(10).repeat(4)
    J = judge_digits(tiny_clip, unnormalize_to_zero_to_one(x), y)
    assert J["score"].shape == J["score_other"].shape == J["pred_clf"].shape == (40,)
    assert J["clip_per_digit"].shape == J["conf_per_digit"].shape == (10,)
    assert sorted(J["rank_clip"]) == sorted(J["rank_clf"]) == list(range(10))
    assert J["classifier"]["accuracy"] >= 0.9                               # real digits, the shipped judge
    with pytest.raises(ValueError, match="unknown digit label"):
        judge_digits(tiny_clip, unnormalize_to_zero_to_one(x[:2]), [3, 12])
