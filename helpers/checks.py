"""The visible checks a student runs right after each task of the assignment (assignment/rubric.yaml).

Each check tests properties a correct answer must have (a worked example, shapes, a limit case),
never the reference code itself, and either returns a Passed (shown as one line in a notebook) or
raises CheckFailed with what was expected, what came back and where to look. A task still left
as its stub raises the stub's NotImplementedError, which names the task. The grader's hidden
checks (grading/tasks.py) compare with the reference on fresh inputs as well.

    check_add_noise(schedule)        # notebook 01
"""
import torch


class CheckFailed(AssertionError):
    """A visible check that did not pass; the message says what to fix."""


class Passed:
    def __init__(self, task: str, what: str):
        self.task, self.what = task, what

    def __repr__(self) -> str:
        return f"check passed ({self.task}): {self.what}"

    def _repr_markdown_(self) -> str:
        return f"**Check passed** (`{self.task}`): {self.what}"


def _expect(ok: bool, task: str, message: str):
    if not ok:
        raise CheckFailed(f"{task}: {message}")


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), rtol=tol, atol=tol))


def check_add_noise(schedule) -> Passed:
    """NoiseSchedule.add_noise: the signal weight with eps = 0, the noise weight with x0 = 0, one t
    per image, and unit variance at t = T - 1."""
    task, g = "add_noise", torch.Generator().manual_seed(0)
    x0, eps = torch.rand((4, 1, 8, 8), generator=g) * 2 - 1, torch.randn((4, 1, 8, 8), generator=g)
    t = torch.tensor([0, schedule.T // 4, schedule.T // 2, schedule.T - 1])
    ab = schedule.alpha_bar[t].view(-1, 1, 1, 1)
    out = schedule.add_noise(x0, torch.zeros_like(x0), t)
    _expect(out.shape == x0.shape, task, f"x_t has shape {tuple(out.shape)}; x0 has {tuple(x0.shape)}")
    ratio = (out / x0).flatten(1).median(1).values
    _expect(_close(out, ab.sqrt() * x0), task, f"with eps = 0, x_t should be sqrt(alpha_bar_t) x0: at t = {t.tolist()} "
            f"x_t / x0 is {[round(r, 3) for r in ratio.tolist()]}, expected {[round(a, 3) for a in ab.sqrt().flatten().tolist()]}")
    out = schedule.add_noise(torch.zeros_like(x0), eps, t)
    _expect(_close(out, (1 - ab).sqrt() * eps), task,
            "with x0 = 0, x_t should be sqrt(1 - alpha_bar_t) eps (each image at its own t)")
    big = torch.randn((2000, 1, 8, 8), generator=g)
    last = schedule.add_noise(big.clamp(-1, 1), torch.randn(big.shape, generator=g), torch.full((2000,), schedule.T - 1))
    _expect(abs(last.var().item() - 1) < 0.05, task, f"at t = T - 1, x_t should be N(0, 1) noise: its variance is "
            f"{last.var().item():.3f}, not 1")
    return Passed(task, f"the signal weight is sqrt(alpha_bar_t), the noise weight sqrt(1 - alpha_bar_t), one t per "
                        f"image, and x_(T-1) has variance {last.var().item():.3f}")


def check_time_embedding(embedding_class) -> Passed:
    """SinusoidalPosEmb: shape (B, dim), sin(0) = 0 and cos(0) = 1 at t = 0, the first frequency 1."""
    task, dim = "time_embedding", 16
    t = torch.tensor([0, 1, 10, 999])
    e = embedding_class(dim)(t)
    _expect(tuple(e.shape) == (4, dim), task, f"t of shape (4,) should give ({4}, {dim}), got {tuple(e.shape)}")
    _expect(_close(e[0], torch.cat([torch.zeros(dim // 2), torch.ones(dim // 2)])), task,
            "at t = 0 the first half (sines) should be 0 and the second half (cosines) 1")
    _expect(_close(e[:, 0], t.float().sin()) and _close(e[:, dim // 2], t.float().cos()), task,
            "the first frequency should be 1: column 0 is sin(t) and column dim/2 is cos(t)")
    slowest = 10000.0 ** (-(dim // 2 - 1) / (dim // 2))
    _expect(_close(e[:, dim // 2 - 1], (t.float() * slowest).sin()), task,
            f"the frequencies should fall geometrically from 1: the last sine column is sin(t * {slowest:.3g}) "
            f"(10000^(-k / (dim/2)) for k = dim/2 - 1)")
    return Passed(task, f"shape (B, {dim}), sin/cos of t at geometric frequencies from 1 down to {slowest:.2g}")


def check_res_block(block_class) -> Passed:
    """ResBlock.forward: the output shape, the embedding acts, and with block2 zeroed only the
    shortcut is left."""
    task, g = "res_block", torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = block_class(8, 16, 32).eval()
    x, emb = torch.randn((2, 8, 6, 6), generator=g), torch.randn((2, 32), generator=g)
    with torch.no_grad():
        out = block(x, emb)
        _expect(tuple(out.shape) == (2, 16, 6, 6), task, f"(2, 8, 6, 6) in should give (2, 16, 6, 6), got {tuple(out.shape)}")
        _expect((block(x, emb * 3) - out).abs().max() > 1e-3, task,
                "changing the time/class embedding does not change the output: add self.emb(emb) to the feature maps")
        for p in block.block2[-1].parameters():
            p.zero_()
        _expect(_close(block(x, emb), block.shortcut(x)), task,
                "with block2's last convolution zeroed, the output should be shortcut(x): add the shortcut at the end")
    return Passed(task, "the right shape, the embedding changes the output, and the residual shortcut is added")


class _Oracle(torch.nn.Module):
    """A 'network' that returns a fixed output, with the config the loss reads."""

    def __init__(self, output, prediction):
        super().__init__()
        self.output, self.config = output, type("Config", (), {"prediction": prediction})()

    def forward(self, x_t, t, y):
        return self.output


def check_loss(loss_fn, schedule) -> Passed:
    """diffusion_loss: 0 for a network that returns its target exactly (eps, or v), the target's
    mean square for one that returns 0, one value per image with reduce=False."""
    task, g = "loss", torch.Generator().manual_seed(0)
    x0, noise = torch.rand((3, 1, 8, 8), generator=g) * 2 - 1, torch.randn((3, 1, 8, 8), generator=g)
    t, y = torch.tensor([10, 500, 990]), torch.tensor([1, 2, 3])
    ab = schedule.alpha_bar[t].view(-1, 1, 1, 1)
    for prediction, target in (("eps", noise), ("v", ab.sqrt() * noise - (1 - ab).sqrt() * x0)):
        perfect = loss_fn(_Oracle(target, prediction), schedule, x0, y, t, noise, reduce=False)
        _expect(tuple(perfect.shape) == (3,), task, f"reduce=False should give one loss per image (3,), got {tuple(perfect.shape)}")
        _expect(perfect.abs().max() < 1e-6, task, f"a {prediction} network that returns the true {prediction} should "
                f"score 0, got {perfect.tolist()}: compare the output with schedule.target(x0, noise, t, prediction)")
        zero = loss_fn(_Oracle(torch.zeros_like(x0), prediction), schedule, x0, y, t, noise, reduce=False)
        _expect(_close(zero, target.pow(2).mean(dim=(1, 2, 3))), task,
                f"a {prediction} network that returns 0 should score the mean of target^2 per image")
    return Passed(task, "0 for a perfect eps or v network, the target's mean square for a network that returns 0")


def _point_model(schedule, c: torch.Tensor):
    """eps of the data set {c}: the exact noise estimate when every digit is the image c."""
    return lambda x_t, t: (x_t - schedule.alpha_bar[t].sqrt() * c) / (1 - schedule.alpha_bar[t]).sqrt()


def check_ddpm_step(sampler) -> Passed:
    """DDPMSampler.step on the one-image data set {c}: x0_hat = c, the draws' mean and spread are
    the posterior's, and the last step returns c itself."""
    task, s, g = "ddpm_step", sampler.schedule, torch.Generator().manual_seed(0)
    c = torch.rand((1, 1, 4, 4), generator=g) * 2 - 1
    eps_of = _point_model(s, c)
    t = int(sampler.timesteps[len(sampler.timesteps) // 2])
    x_t = s.add_noise(c, torch.randn(c.shape, generator=g), torch.tensor([t])).expand(4000, 1, 4, 4)
    out = sampler.step(eps_of(x_t, t), t, x_t, generator=g)
    _expect(_close(out.pred_x0, c.expand_as(x_t), 1e-3), task, "pred_x0 should be the clean image the noise estimate implies")
    mean, var = s.posterior(c, x_t[:1], t, sampler.prev_timestep(t))
    _expect((out.prev_sample.mean(0) - mean[0]).abs().max() < 0.1, task,
            "the average x_(t_prev) over many draws should be the posterior mean of q(x_(t_prev) | x_t, x0_hat)")
    std = out.prev_sample.std(0).mean().item()
    _expect(abs(std / var.sqrt().item() - 1) < 0.1, task, f"the draws should spread by the posterior's standard "
            f"deviation {var.sqrt().item():.3f}, got {std:.3f}")
    last = int(sampler.timesteps[-1])
    x_last = s.add_noise(c, torch.randn(c.shape, generator=g), torch.tensor([last]))
    _expect(_close(sampler.step(eps_of(x_last, last), last, x_last, generator=g).prev_sample, c, 1e-3), task,
            "the last step (t_prev = -1) should return x0_hat, with no noise added")
    return Passed(task, f"x0_hat is right, the draws have the posterior's mean and spread ({std:.3f}), and the last "
                        f"step adds no noise")


def check_ddim_step(sampler) -> Passed:
    """DDIMSampler.step (eta = 0) on the one-image data set {c}: x0_hat = c and the step keeps the
    noise estimate, x_(t_prev) = sqrt(ab_prev) c + sqrt(1 - ab_prev) eps_hat, for every step."""
    task, s, g = "ddim_step", sampler.schedule, torch.Generator().manual_seed(0)
    c = torch.rand((1, 1, 4, 4), generator=g) * 2 - 1
    eps_of = _point_model(s, c)
    x = torch.randn((3, 1, 4, 4), generator=g)
    for t in sampler.timesteps.tolist():
        eps = eps_of(x, t)
        out = sampler.step(eps, t, x)
        ab_prev = s.alpha_bar_at(sampler.prev_timestep(t), x)
        _expect(_close(out.prev_sample, ab_prev.sqrt() * c + (1 - ab_prev).sqrt() * eps, 1e-3), task,
                f"at t = {t}, x_(t_prev) should be sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps_hat")
        x = out.prev_sample
    _expect(_close(x, c.expand_as(x), 1e-3), task, "the last step should land on the data set's image")
    return Passed(task, f"each of {sampler.steps} steps keeps the noise estimate and lands on x0_hat at the end")


def check_clip_score(scores_fn, clip, images01, labels, prompts_for) -> Passed:
    """clip_scores: one score per image in [-100, 100], and a digit's own prompt scores higher on
    average than the prompt of the next digit."""
    task = "clip_score"
    own = scores_fn(clip, images01, prompts_for(labels))
    other = scores_fn(clip, images01, prompts_for((labels + 1) % 10))
    _expect(tuple(own.shape) == (len(images01),), task, f"one score per image: expected ({len(images01)},), got {tuple(own.shape)}")
    _expect(own.abs().max() <= 100 + 1e-3, task, "a score is 100 x a cosine similarity, so it lies in [-100, 100]: "
            "normalise both embeddings (image_embeds and text_embeds already do)")
    _expect(own.mean() > other.mean(), task, f"a digit's own prompt should score higher than another digit's: "
            f"{own.mean():.1f} against {other.mean():.1f}")
    return Passed(task, f"one score per image; own prompt {own.mean():.1f}, the next digit's {other.mean():.1f}")


def check_repaint_paste(inpaint_fn, denoiser, x0, mask, y) -> Passed:
    """inpaint: the known pixels (mask = 1) come back exactly and the hidden ones are filled in."""
    task = "repaint_paste"
    out = inpaint_fn(denoiser, x0, mask, y, steps=5, resample=2)
    kept = ((out - x0) * mask).abs().max().item()
    _expect(kept < 1e-5, task, f"the known pixels changed by up to {kept:.3g}: paste mask * known + (1 - mask) * x, "
            f"with x0 itself (not noised) at the last step")
    filled = ((out - x0) * (1 - mask)).abs().max().item()
    _expect(filled > 1e-3, task, "the hidden pixels are exactly the original's: the model's sample must fill them")
    return Passed(task, f"the known pixels are kept exactly (largest change {kept:.1g}) and the hidden ones filled in")
