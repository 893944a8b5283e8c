"""The visible checks of the assignment's tasks: each passes on the reference and fails, with a
message that says what to fix, on a typical wrong answer."""
import pytest
import torch

from helpers import checks
from helpers.applications import inpaint, make_mask
from helpers.checks import CheckFailed
from helpers.clip import load_clip, prompts_for
from helpers.clip import clip_scores
from helpers.data import mnist_tensors, random_subset, unnormalize_to_zero_to_one
from helpers.pipeline import load_pipeline
from helpers.samplers import DDIMSampler, DDPMSampler, StepOutput, make_sampler
from helpers.schedule import NoiseSchedule, _gather
from helpers.train import diffusion_loss
from helpers.unet import ResBlock, SinusoidalPosEmb

SCHEDULE = NoiseSchedule(1000, "cosine")


class NoSqrt(NoiseSchedule):
    def add_noise(self, x0, noise, t):
        ab = _gather(self.alpha_bar, t, x0)
        return ab * x0 + (1 - ab) * noise


class CosFirst(SinusoidalPosEmb):
    def forward(self, t):
        e = super().forward(t)
        return torch.cat([e[:, self.dim // 2:], e[:, :self.dim // 2]], dim=-1)


class NoShortcut(ResBlock):
    def forward(self, x, emb):
        return self.block2(self.block1(x) + self.emb(emb)[:, :, None, None])


def eps_only_loss(model, schedule, x0, y, t, noise, weighting="none", reduce=True):
    out = model(schedule.add_noise(x0, noise, t), t, y)
    per = (out - noise).pow(2).mean(dim=(1, 2, 3))
    return per.mean() if reduce else per


class MeanOnlyDDPM(DDPMSampler):
    def step(self, eps, t, x_t, generator=None):
        x0 = self.pred_x0(eps, t, x_t)
        return StepOutput(self.schedule.posterior(x0, x_t, t, self.prev_timestep(t))[0], x0)


class FreshNoiseDDIM(DDIMSampler):
    def step(self, eps, t, x_t, generator=None):
        x0 = self.pred_x0(eps, t, x_t)
        ab_prev = self.schedule.alpha_bar_at(self.prev_timestep(t), x_t)
        return StepOutput(ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * torch.randn_like(x_t), x0)


@pytest.mark.parametrize("run,wrong,match", [
    (lambda impl: checks.check_add_noise(impl), NoSqrt(1000, "cosine"), "sqrt\\(alpha_bar_t\\) x0"),
    (lambda impl: checks.check_time_embedding(impl), CosFirst, "sines"),
    (lambda impl: checks.check_res_block(impl), NoShortcut, "shortcut"),
    (lambda impl: checks.check_loss(impl, SCHEDULE), eps_only_loss, "true v"),
    (lambda impl: checks.check_ddpm_step(impl), MeanOnlyDDPM(SCHEDULE).set_timesteps(20), "spread"),
    (lambda impl: checks.check_ddim_step(impl), FreshNoiseDDIM(SCHEDULE).set_timesteps(20), "sqrt\\(alpha_bar_prev\\)"),
])
def test_a_wrong_answer_fails_its_check_with_a_hint(run, wrong, match):
    with pytest.raises(CheckFailed, match=match):
        run(wrong)


@pytest.mark.parametrize("run", [
    lambda: checks.check_add_noise(SCHEDULE), lambda: checks.check_time_embedding(SinusoidalPosEmb),
    lambda: checks.check_res_block(ResBlock), lambda: checks.check_loss(diffusion_loss, SCHEDULE),
    lambda: checks.check_ddpm_step(make_sampler("ddpm", SCHEDULE, 20)),
    lambda: checks.check_ddim_step(make_sampler("ddim", SCHEDULE, 20)),
    lambda: checks.check_ddim_step(make_sampler("ddim", NoiseSchedule(1000, "linear"), 7)),
])
def test_the_reference_passes(run):
    passed = run()
    assert passed._repr_markdown_().startswith("**Check passed** (`")


def test_clip_score_check():
    x, y = random_subset(*mnist_tensors("test"), 40, seed=0)
    x01, clip = unnormalize_to_zero_to_one(x), load_clip()
    assert "own prompt" in repr(checks.check_clip_score(clip_scores, clip, x01, y, prompts_for))
    with pytest.raises(CheckFailed, match="\\[-100, 100\\]"):
        checks.check_clip_score(lambda *a: 1000 * clip_scores(*a), clip, x01, y, prompts_for)
    with pytest.raises(CheckFailed, match="own prompt should score higher"):
        checks.check_clip_score(lambda c, im, texts: -clip_scores(c, im, texts), clip, x01, y, prompts_for)


def test_repaint_check():
    pipe = load_pipeline(device="cpu")
    x, y = random_subset(*mnist_tensors("test"), 2, seed=0)
    mask, den = make_mask("box", 2), pipe.denoiser()
    assert "kept exactly" in repr(checks.check_repaint_paste(inpaint, den, x, mask, y))
    noisy_paste = lambda d, x0, m, y, **kw: inpaint(d, x0, m, y, **kw) + 0.01 * m   # the known pixels moved
    with pytest.raises(CheckFailed, match="known pixels changed"):
        checks.check_repaint_paste(noisy_paste, den, x, mask, y)


def test_source_of_shows_a_method_dedented_and_without_the_solution_markers():
    from helpers.notebook import source_of
    text = source_of(ResBlock.forward)
    assert text.startswith("def forward(self, x, emb):\n    h = self.block1(x)")
    assert "SOLUTION" not in text and "self.shortcut(x)" in text
