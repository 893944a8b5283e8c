"""Notebook 06/07's library: masks, slerp, hybrid digits, RePaint, SDEdit, restoration, augmentation
bookkeeping, prompt reading."""
import pytest
import torch

from helpers import NoiseSchedule, UNet, UNetConfig
from helpers import applications as app
from helpers.classifier import Classifier, add_pixel_noise
from helpers.clip import DEFAULT_CLIP, HELDOUT_TEMPLATES, DIGIT_NUMERALS, class_prompts
from helpers.pipeline import DIGIT_NAMES, Pipeline
from helpers.samplers import Denoiser, make_sampler

TINY = UNetConfig(image_size=8, base=8, mults=(1, 2))


def tiny_model(seed=0):
    """A small U-Net with a random (non-zero) output layer, so its predictions depend on x, t, y."""
    torch.manual_seed(seed)
    model = UNet(TINY).eval()
    torch.nn.init.normal_(model.out[-1].weight, std=0.1)
    return model


def images(n=6, seed=0):
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed)) * 2 - 1


# masks and quality ----------------------------------------------------------------------------

def test_masks_hide_the_intended_pixels():
    half, box = app.make_mask("half", 3), app.make_mask("box", 3)
    assert half.shape == box.shape == (3, 1, 28, 28)
    assert half[:, :, :14].eq(1).all() and half[:, :, 14:].eq(0).all()
    assert (1 - box).sum().item() == 3 * 14 * 14 and box[0, 0, 14, 14] == 0 and box[0, 0, 0, 0] == 1
    rnd = app.make_mask("random", 50, frac=0.3, seed=1)
    assert set(rnd.unique().tolist()) == {0.0, 1.0}
    assert abs((1 - rnd).mean().item() - 0.3) < 0.02
    assert not torch.equal(rnd[0], rnd[1])                          # a fresh pattern per image
    assert torch.equal(rnd, app.make_mask("random", 50, frac=0.3, seed=1))
    with pytest.raises(ValueError, match="unknown mask"):
        app.make_mask("circle", 1)


def test_mean_fill_and_completion_scores():
    """(PSNR and the hidden-pixel MSE themselves are tested in tests/test_evaluate.py.)"""
    ref = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.8
    mask = app.make_mask("half", 4)
    mean = torch.full((1, 1, 28, 28), 0.5)
    filled = app.mean_fill(ref, mask, mean)
    assert torch.equal(filled * mask, ref * mask) and filled[:, :, 14:].eq(0.5).all()
    scores = app.completion_scores(filled * 2 - 1, ref * 2 - 1, torch.zeros(4, dtype=torch.long), mask,
                                   Classifier().eval())
    assert scores["known_error"] < 1e-6 and 0 <= scores["accuracy"] <= 1
    torch.testing.assert_close(scores["hidden_mse_each"], (0.5 - ref[:, :, 14:]).pow(2).flatten(1).mean(1))
    assert scores["hidden_mse"] == pytest.approx(scores["hidden_mse_each"].mean().item())


# interpolation --------------------------------------------------------------------------------

def test_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 1, 28, 28, generator=g), torch.randn(5, 1, 28, 28, generator=g)
    b = b / b.flatten(1).norm(dim=1)[:, None, None, None] * a.flatten(1).norm(dim=1)[:, None, None, None]
    assert torch.allclose(app.slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(app.slerp(a, b, 1.0), b, atol=1e-5)
    for w in (0.25, 0.5, 0.8):
        mid = app.slerp(a, b, w)
        assert torch.allclose(mid.flatten(1).norm(dim=1), a.flatten(1).norm(dim=1), rtol=1e-4)
    lerp = 0.5 * (a + b)                                         # the straight line cuts inside the sphere
    assert (lerp.flatten(1).norm(dim=1) < 0.8 * a.flatten(1).norm(dim=1)).all()
    assert torch.allclose(app.slerp(a, a, 0.3), a, atol=1e-5)   # parallel: no division by zero
    with pytest.raises(ValueError, match="one shape"):
        app.slerp(a, b[:2], 0.5)


def test_mix_weights_rows():
    w = app.mix_weights(3, 8, [0.0, 0.25, 1.0])
    assert w.shape == (3, 10) and torch.allclose(w.sum(1), torch.ones(3))
    assert w[0, 3] == 1 and w[1, 3] == 0.75 and w[1, 8] == 0.25 and w[2, 8] == 1


def test_hybrid_endpoints_equal_the_pure_labels():
    model = tiny_model()
    x, t = images(4), torch.full((4,), 300)
    weights = torch.cat([app.mix_weights(2, 7, [0.0, 1.0, 0.5]), torch.eye(10)[[5]]])
    mixed = app.MixedClassUNet(model, weights)
    y = torch.arange(4)
    with torch.no_grad():
        out = mixed(x, t, y)
        pure = model(x, t, torch.tensor([2, 7, 2, 5]))
        null = mixed(x, t, torch.full((4,), mixed.null_label))
        assert torch.allclose(out[[0, 1, 3]], pure[[0, 1, 3]], atol=1e-6)
        assert not torch.allclose(out[2], pure[2], atol=1e-4)        # the half-half mix is new
        assert torch.allclose(null, model(x, t, torch.full((4,), model.null_label)), atol=1e-6)
        # the hook is gone afterwards: the model itself is unchanged
        assert torch.allclose(model(x, t, torch.tensor([2, 7, 2, 5])), pure)
    with pytest.raises(ValueError, match=r"\(M, 10\)"):
        app.MixedClassUNet(model, torch.ones(3, 4))


def test_sample_mixed_with_one_hot_rows_matches_pipeline_sampling():
    pipe = Pipeline(tiny_model(), NoiseSchedule(100), guidance=2.0)
    x_T = pipe.noise(2, torch.Generator().manual_seed(0))
    a = app.sample_mixed(pipe, torch.eye(10)[[1, 6]], x_T, steps=4)
    b = pipe.sample([1, 6], steps=4, x_T=x_T)
    assert a.shape == (2, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert torch.allclose(a, b, atol=1e-4)


# inpainting and restoration ---------------------------------------------------------------------

class CountingModel(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.null_label, self.calls = model, model.config, model.null_label, 0

    def forward(self, x, t, y):
        self.calls += 1
        return self.model(x, t, y)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_inpainting_keeps_known_pixels_and_resamples(sampler):
    model, schedule = CountingModel(tiny_model()), NoiseSchedule(100)
    x0 = images(5)
    mask = app.make_mask("random", 5, size=8, frac=0.5, seed=2)
    den = Denoiser(model, schedule)
    out = app.inpaint(den, x0, mask, steps=6, resample=3, sampler=sampler, seed=1)
    assert out.shape == x0.shape and torch.isfinite(out).all()
    assert (out - x0).mul(mask).abs().max() < 1e-6                    # known pixels exactly
    assert (out - x0).mul(1 - mask).abs().max() > 1e-2                 # hidden ones were generated
    assert model.calls == 6 * 3 - 2                                    # the last step is not repeated
    again = app.inpaint(den, x0, mask, steps=6, resample=3, sampler=sampler, seed=1)
    assert torch.equal(out, again)
    told = app.inpaint(den, x0, mask, y=torch.arange(5), steps=6, resample=3, sampler=sampler, seed=1)
    assert not torch.allclose(told, out)                               # the label reaches the model
    model.calls = 0
    app.inpaint(den, x0, mask, steps=6, resample=1, sampler=sampler, seed=1)
    assert model.calls == 6                                            # resample=1: one call per step
    with pytest.raises(ValueError, match="one-step sampler"):
        app.inpaint(den, x0, mask, sampler="dpm++")
    with pytest.raises(ValueError, match="resample"):
        app.inpaint(den, x0, mask, resample=0)


def test_sdedit_shapes_and_grid():
    schedule = NoiseSchedule(100)
    den = Denoiser(tiny_model(), schedule)
    x = images(3)
    out, t = app.sdedit(den, x, 37, steps=10)
    assert out.shape == x.shape and out.abs().max() <= 1
    assert t in make_sampler("ddim", schedule, 10).timesteps.tolist() and abs(t - 37) <= 5
    out2, _ = app.sdedit(den, x, 37, y=torch.tensor([1, 2, 3]), steps=10)
    assert not torch.allclose(out, out2)                                # the label reaches the model


def test_pixel_noise_and_matching_t():
    schedule = NoiseSchedule(1000)
    x = torch.full((2, 1, 28, 28), 0.5)
    noisy = add_pixel_noise(x, 0.2, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and abs((noisy - x).std().item() - 0.2) < 0.02
    t1, t2 = app.matching_t(schedule, 0.1), app.matching_t(schedule, 0.4)
    assert 0 < t1 < t2 < 1000
    ab = schedule.alpha_bar[t2]
    assert ((1 - ab) / ab).sqrt() >= 0.8 > ((1 - schedule.alpha_bar[t2 - 1]) / schedule.alpha_bar[t2 - 1]).sqrt()


# data augmentation bookkeeping ------------------------------------------------------------------

def test_restoration_curve_starts_with_the_degraded_input():
    schedule = NoiseSchedule(100)
    torch.manual_seed(0)
    den = Denoiser(UNet(UNetConfig(base=8, mults=(1, 2))).eval(), schedule)     # 28 x 28, for the classifier
    clean01 = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    degraded01 = add_pixel_noise(clean01, 0.2, torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    curve = app.restoration_curve(den, clean01, degraded01, y, [10, 60], Classifier().eval(), steps=10,
                                  progress=False)
    assert curve["t"][0] is None and curve["t"][1:] == [9, 59]          # snapped to the 10-step grid
    assert curve["psnr"][0] == pytest.approx(app.psnr(degraded01, clean01).mean().item())
    assert len(curve["psnr"]) == len(curve["accuracy"]) == 3
    assert torch.equal(curve["images"][None], degraded01)
    assert all(curve["images"][t].shape == clean01.shape for t in (9, 59))
    assert 0 <= curve["images"][59].min() and curve["images"][59].max() <= 1


def test_balanced_subset():
    y = torch.arange(10).repeat(30)
    idx = app.balanced_subset(y, 7, seed=3)
    assert torch.bincount(y[idx], minlength=10).eq(7).all() and len(idx.unique()) == 70
    assert not torch.equal(idx, app.balanced_subset(y, 7, seed=4))
    with pytest.raises(ValueError, match="fewer than"):
        app.balanced_subset(y, 31)


def test_augmentation_gains_are_paired_differences():
    aug = {"per_class": [10, 50], "real": [[0.5, 0.6, 0.7], [0.8, 0.8, 0.9]],
           "real+gen": [[0.6, 0.6, 0.9], [0.8, 0.9, 0.9]], "gen only": [0.7, 0.7, 0.7]}
    rows = app.augmentation_gains(aug)
    assert [r["n"] for r in rows] == [10, 50] and all(r["seeds"] == 3 for r in rows)
    assert rows[0]["gain"] == pytest.approx(0.1) and rows[0]["spread"] == pytest.approx(0.1)
    assert rows[1]["gain"] == pytest.approx(0.1 / 3)
    assert rows[0]["real"] == pytest.approx((0.6, 0.1)) and rows[0]["mixed"][0] == pytest.approx(0.7)


# reading prompts with CLIP ----------------------------------------------------------------------

def tiny_clip():
    from transformers import CLIPModel
    from helpers.clip import Clip, all_captions, build_tokenizer, mnist_image_processor, small_clip_config
    torch.manual_seed(0)
    tok = build_tokenizer(all_captions())
    cfg = small_clip_config(tok, width=32, vision_layers=1, text_layers=1, projection_dim=16)
    return Clip(CLIPModel(cfg).eval(), tok, mnist_image_processor())


def test_read_prompt_shapes_and_unknown_words():
    clip = tiny_clip()
    x01 = torch.rand(20, 1, 28, 28)
    proto = app.digit_prototypes(clip, x01, torch.arange(10).repeat(2))
    assert proto.shape[0] == 10 and torch.allclose(proto.norm(dim=1), torch.ones(10), atol=1e-5)
    probs = app.read_prompt(clip, ["a 4", "a handwritten seven"], proto)
    assert probs.shape == (2, 10) and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    assert app.read_prompt(clip, "a 4", proto).shape == (1, 10)
    assert app.unknown_words(clip, "three sevens, please") == ["sevens", ",", "please"]
    assert app.unknown_words(clip, "A handwritten 7") == []


@pytest.mark.skipif(not (DEFAULT_CLIP / "config.json").is_file(), reason="data/clip-mnist not shipped yet")
def test_shipped_clip_reads_the_digit_in_new_wordings():
    from helpers.clip import load_clip
    from helpers.data import mnist_tensors, unnormalize_to_zero_to_one
    clip = load_clip()
    x, y = mnist_tensors("val")
    idx = app.balanced_subset(y, 20)
    proto = app.digit_prototypes(clip, unnormalize_to_zero_to_one(x[idx]), y[idx])
    prompts = [p for tpl in HELDOUT_TEMPLATES for names in (DIGIT_NAMES, DIGIT_NUMERALS)
               for p in class_prompts(tpl, names)]
    read = app.read_prompt(clip, prompts, proto).argmax(1)
    assert (read == torch.arange(10).repeat(len(prompts) // 10)).float().mean() > 0.9
