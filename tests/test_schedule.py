"""helpers.schedule and the samplers' single steps, checked numerically against diffusers.

diffusers is a test-only oracle: the course never imports it. Its schedulers compute in float32,
ours in float64 then float32, hence the small tolerances.
"""
import pytest
import torch

from helpers.samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, make_sampler
from helpers.schedule import ModelPrediction, NoiseSchedule

diffusers = pytest.importorskip("diffusers", reason="diffusers is the test oracle for the schedule")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")      # numpy 2 noise inside diffusers

T = 1000
KINDS = {"linear": "linear", "cosine": "squaredcos_cap_v2"}     # ours -> diffusers' name


def ddpm_ref(kind, **kw):
    return diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], **kw)


def ddim_ref(kind, **kw):
    return diffusers.DDIMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], timestep_spacing="trailing",
                                   set_alpha_to_one=True, clip_sample=True, **kw)


def images(seed, shape=(4, 1, 6, 6), scale=1.0):
    return scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# the forward process --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_betas_and_alpha_bar_match_diffusers(kind):
    ours, ref = NoiseSchedule(T, kind), ddpm_ref(kind)
    torch.testing.assert_close(ours.betas, ref.betas.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.alphas, ref.alphas.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.alpha_bar, ref.alphas_cumprod.float(), rtol=1e-4, atol=1e-6)
    assert (ours.alpha_bar.diff() < 0).all(), "alpha_bar must decrease with t"
    assert ours.alpha_bar[0] > 0.999 and ours.alpha_bar[-1] < 1e-3
    ab = ref.alphas_cumprod.double()                      # 1 - ab loses digits in float32 near t = 0
    torch.testing.assert_close(ours.snr, (ab / (1 - ab)).float(), rtol=1e-3, atol=0)


def test_linear_schedule_ends_where_ho_et_al_put_it():
    betas = NoiseSchedule(T, "linear").betas
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


@pytest.mark.parametrize("kind", KINDS)
def test_add_noise_matches_diffusers(kind):
    ours, ref = NoiseSchedule(T, kind), ddpm_ref(kind)
    x0, noise = images(0).clamp(-1, 1), images(1)
    t = torch.tensor([0, 1, 250, 999])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_get_velocity_matches_diffusers_and_eps_from_v_inverts_it(kind):
    ours, ref = NoiseSchedule(T, kind), ddpm_ref(kind)
    x0, noise = images(0).clamp(-1, 1), images(1)
    t = torch.tensor([0, 1, 250, 999])
    v = ours.get_velocity(x0, noise, t)
    torch.testing.assert_close(v, ref.get_velocity(x0, noise, t), rtol=1e-4, atol=1e-5)
    x_t = ours.add_noise(x0, noise, t)
    torch.testing.assert_close(ours.eps_from_v(v, x_t, t), noise, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(ours.eps_from_v(v, x_t, t.flip(0)), noise, atol=1e-2), "t must matter"
    with pytest.raises(ValueError, match="0..999"):
        ours.get_velocity(x0, noise, torch.tensor([0, 1, 2, 1000]))


# reading the network's output: target and convert --------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_target_is_the_noise_or_the_velocity(kind):
    s = NoiseSchedule(T, kind)
    x0, noise = images(0).clamp(-1, 1), images(1)
    t = torch.tensor([0, 1, 250, 999])
    assert torch.equal(s.target(x0, noise, t), noise) and torch.equal(s.target(x0, noise, t, "eps"), noise)
    torch.testing.assert_close(s.target(x0, noise, t, "v"), s.get_velocity(x0, noise, t), rtol=0, atol=0)
    assert not torch.allclose(s.target(x0, noise, t, "v"), noise, atol=1e-2), "v is not eps"
    with pytest.raises(ValueError, match="prediction"):
        s.target(x0, noise, t, "x0")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_convert_reads_the_exact_target_back_as_the_true_noise_and_image(kind, prediction):
    """A network that outputs its exact target at x_t = add_noise(x0, noise, t) is read as (noise, x0),
    whichever it predicts: convert inverts target (x0 is lost to float32 at t = 999 of the cosine
    schedule, where sqrt(alpha_bar) = 5e-5: checked up to t = 900 there)."""
    s = NoiseSchedule(T, kind)
    x0, noise = images(0).clamp(-1, 1), images(1)
    t = torch.tensor([0, 1, 250, 900])
    x_t = s.add_noise(x0, noise, t)
    pred = s.convert(s.target(x0, noise, t, prediction), x_t, t, prediction)
    assert isinstance(pred, ModelPrediction) and pred.eps.dtype == pred.x0.dtype == torch.float32
    torch.testing.assert_close(pred.eps, noise, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred.x0, x0, rtol=1e-3, atol=2e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_convert_follows_eps_from_v_and_predict_x0(kind):
    """For any output (not only an exact one): eps is the output itself (eps model) or eps_from_v of it
    (v model), and x0 = predict_x0(x_t, eps, t), for a (B,) t or an int t."""
    s = NoiseSchedule(T, kind)
    x_t, out = images(2), images(3)
    for t in (torch.tensor([0, 1, 250, 999]), 400):
        eps_pred = s.convert(out, x_t, t, "eps")
        assert torch.equal(eps_pred.eps, out)
        torch.testing.assert_close(eps_pred.x0, s.predict_x0(x_t, out, t), rtol=0, atol=0)
        v_pred = s.convert(out, x_t, t, "v")
        torch.testing.assert_close(v_pred.eps, s.eps_from_v(out, x_t, t), rtol=0, atol=0)
        torch.testing.assert_close(v_pred.x0, s.predict_x0(x_t, v_pred.eps, t), rtol=0, atol=0)
        assert (v_pred.eps - eps_pred.eps).abs().max() > 0.1, "the prediction type must matter"
    # the default is eps; bf16 outputs are read in float32
    assert torch.equal(s.convert(out, x_t, 400).eps, out)
    assert s.convert(out.bfloat16(), x_t, 400, "v").eps.dtype == torch.float32
    with pytest.raises(ValueError, match="prediction"):
        s.convert(out, x_t, 400, "x0")


def test_v_model_x0_is_the_velocity_identity():
    """x0 = sqrt(ab) x_t - sqrt(1 - ab) v (Salimans & Ho), which convert reaches through eps."""
    s = NoiseSchedule(T, "cosine")
    x_t, v = images(2), images(3)
    t = torch.tensor([5, 100, 500, 900])
    ab = s.alpha_bar[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(s.convert(v, x_t, t, "v").x0, ab.sqrt() * x_t - (1 - ab).sqrt() * v,
                               rtol=1e-4, atol=1e-4)


def test_add_noise_accepts_a_scalar_t_and_inverts_with_predict_x0():
    s = NoiseSchedule(T, "cosine")
    x0, noise = images(0).clamp(-1, 1), images(1)
    x_t = s.add_noise(x0, noise, 500)
    torch.testing.assert_close(x_t, s.add_noise(x0, noise, torch.full((4,), 500)))
    torch.testing.assert_close(s.predict_x0(x_t, noise, 500), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(s.predict_eps(x_t, x0, 500), noise, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_variance_matches_diffusers_fixed_small(kind):
    ours, ref = NoiseSchedule(T, kind), ddpm_ref(kind, variance_type="fixed_small")
    x = images(0)
    # near t = 0 both compute 1 - alpha_bar ~ 1e-4 in float32: cancellation costs ~1e-3 relative
    for t, rel in [(1, 1.5e-3), (2, 1.5e-3), (5, 1.5e-3), (10, 1e-3), (100, 1e-4), (500, 1e-5), (999, 1e-5)]:
        _, var = ours.posterior(x, x, torch.tensor([t]))
        assert var.shape == (1, 1, 1, 1)
        assert var.item() == pytest.approx(ref._get_variance(t).item(), rel=rel), f"t = {t}"
    _, var0 = ours.posterior(x, x, torch.tensor([0]))              # t_prev = -1: x0 is known exactly
    assert var0.item() == pytest.approx(0.0, abs=1e-12)


def test_posterior_mean_recovers_x0_at_the_last_step():
    s = NoiseSchedule(T, "linear")
    x0, x_t = images(0), images(1)
    mean, _ = s.posterior(x0, x_t, 0)
    torch.testing.assert_close(mean, x0)


# bad inputs -----------------------------------------------------------------------------------

def test_unknown_schedule_name_is_rejected():
    with pytest.raises(ValueError, match="squaredcos"):
        NoiseSchedule(T, "squaredcos")


def test_non_positive_T_is_rejected():
    with pytest.raises(ValueError, match="T must be"):
        NoiseSchedule(0, "linear")


@pytest.mark.parametrize("t", [-1, T, [0, T + 5]])
def test_add_noise_rejects_t_out_of_range(t):
    s = NoiseSchedule(T, "linear")
    x = images(0, shape=(len(t) if isinstance(t, list) else 1, 1, 4, 4))
    with pytest.raises(ValueError, match=f"0..{T - 1}"):
        s.add_noise(x, torch.randn_like(x), torch.tensor(t))


def test_add_noise_rejects_mismatched_shapes():
    s = NoiseSchedule(T, "linear")
    with pytest.raises(ValueError, match="one shape"):
        s.add_noise(images(0), images(1, shape=(4, 1, 5, 5)), torch.zeros(4, dtype=torch.long))


# single sampler steps against diffusers ------------------------------------------------------

def some_timesteps(sampler, k=6):
    """About k of the sampler's timesteps, always including the first and the last two."""
    ts = sampler.timesteps.tolist()
    return sorted(set(ts[:: max(1, len(ts) // k)] + ts[-2:]), reverse=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [T, 10, 7])
def test_ddpm_step_matches_diffusers(kind, steps):
    schedule = NoiseSchedule(T, kind)
    ours = make_sampler("ddpm", schedule, steps)
    ref = ddpm_ref(kind, timestep_spacing="trailing", clip_sample=True, variance_type="fixed_small")
    ref.set_timesteps(steps)
    assert ref.timesteps.tolist() == ours.timesteps.tolist()
    x_t, eps = images(0), images(1, scale=1.5)             # large eps: clipping of x0 is exercised
    for t in some_timesteps(ours):
        out = ours.step(eps, t, x_t, torch.Generator().manual_seed(t))
        r = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(out.pred_x0, r.pred_original_sample, rtol=1e-4, atol=1e-5)
        tol = 1e-3 if t < 10 else 1e-5          # float32 cancellation in 1 - alpha_bar near t = 0
        torch.testing.assert_close(out.prev_sample, r.prev_sample, rtol=1e-4, atol=tol, msg=f"t = {t}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [T, 50, 10, 1])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(kind, steps, eta):
    """diffusers' DDIM takes t_prev = t - T // steps, so only step counts dividing T are comparable."""
    schedule = NoiseSchedule(T, kind)
    ours, ref = make_sampler("ddim", schedule, steps, eta=eta), ddim_ref(kind)
    ref.set_timesteps(steps)
    assert ref.timesteps.tolist() == ours.timesteps.tolist()
    x_t, eps = images(0), images(1, scale=1.5)
    for t in some_timesteps(ours):
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))     # ours draws the same z
        out = ours.step(eps, t, x_t, torch.Generator().manual_seed(t))
        r = ref.step(eps, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=z)
        torch.testing.assert_close(out.pred_x0, r.pred_original_sample, rtol=1e-4, atol=1e-5)
        tol = 1e-3 if t < 10 else 1e-5          # float32 cancellation in 1 - alpha_bar near t = 0
        torch.testing.assert_close(out.prev_sample, r.prev_sample, rtol=1e-4, atol=tol, msg=f"t = {t}")


def test_ddim_with_eta_uses_its_generator():
    smp = make_sampler("ddim", NoiseSchedule(T, "linear"), 10, eta=1.0)
    x_t, eps = images(0), images(1)
    a = smp.step(eps, 999, x_t, torch.Generator().manual_seed(0)).prev_sample
    b = smp.step(eps, 999, x_t, torch.Generator().manual_seed(1)).prev_sample
    assert not torch.allclose(a, b)


def test_ddim_last_step_returns_the_clipped_x0():
    s = NoiseSchedule(T, "cosine")
    smp = make_sampler("ddim", s, 10, eta=1.0)
    x_t, eps = images(0), images(1, scale=3)
    out = smp.step(eps, smp.timesteps[-1].item(), x_t, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.prev_sample, out.pred_x0)
    assert out.pred_x0.abs().max() <= 1


def fake_eps(schedule, x, t):
    """A fixed smooth 'network': the exact eps for N(0, 0.25) data, plus a deterministic nonlinear
    error, so x0_hat stays image-like (|x0_hat| ~ 1) and second-order terms matter."""
    ab = schedule.alpha_bar[t]
    return ((1 - ab).sqrt() * x + 0.2 * ab.sqrt() * torch.sin(3.0 * x + t / 100)) / (0.25 * ab + 1 - ab)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [25, 20, 10, 3, 1])
def test_dpm_solver_loop_matches_diffusers(kind, steps):
    """DPM-Solver++(2M), data prediction, trailing spacing, zero final sigma: a whole loop.

    The first step is first-order (no history yet) and the last one returns x0_hat in both
    (final_sigmas_type="zero"; lower_order_final only limits a solver of order 3 further).
    diffusers never clips x0 (it only has dynamic thresholding): ours runs with clip_x0=False.
    """
    ours = DPMSolverSampler(NoiseSchedule(T, kind), clip_x0=False).set_timesteps(steps)
    ref = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=T, beta_schedule=KINDS[kind], algorithm_type="dpmsolver++", solver_order=2,
        timestep_spacing="trailing", final_sigmas_type="zero", lower_order_final=True)
    ref.set_timesteps(steps)
    assert ref.timesteps.tolist() == ours.timesteps.tolist()
    # at t = 999 the cosine alpha_bar is 2.4e-9: x0_hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab) cancels
    # catastrophically in float32 (in both implementations), so cosine gets a looser tolerance; linear's
    # 1 / sqrt(ab) = 156 there still turns float32 rounding into ~4e-5 (seen with diffusers 0.42.1)
    tol = 6e-3 if kind == "cosine" else 1e-4     # (a first-order solver differs by > 2e-2)
    x_ours = x_ref = images(0)
    for t in ours.timesteps.tolist():
        x_ours = ours.step(fake_eps(ours.schedule, x_ours, t), t, x_ours).prev_sample
        x_ref = ref.step(fake_eps(ours.schedule, x_ref, t), t, x_ref).prev_sample
        torch.testing.assert_close(x_ours, x_ref, rtol=1e-4, atol=tol, msg=f"t = {t}")
    assert 0.1 < x_ours.std() < 1, "the loop should end on image-like values"


def test_dpm_solver_history_is_reset_between_loops():
    smp = DPMSolverSampler(NoiseSchedule(T, "cosine")).set_timesteps(8)

    def run():
        x = images(0)
        for t in smp.timesteps.tolist():
            x = smp.step(fake_eps(smp.schedule, x, t), t, x).prev_sample
        return x
    torch.testing.assert_close(run(), run(), rtol=0, atol=0)


def test_every_sampler_class_is_reachable_by_name():
    s = NoiseSchedule(100, "linear")
    assert isinstance(make_sampler("ddpm", s), DDPMSampler)
    assert isinstance(make_sampler("ddim", s, 10, eta=0.3), DDIMSampler)
    assert make_sampler("ddim", s, 10, eta=0.3).eta == 0.3
    assert isinstance(make_sampler("dpm++", s, 10), DPMSolverSampler)
    with pytest.raises(ValueError, match="euler"):
        make_sampler("euler", s)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t, s", [(999, 749), (749, 499), (499, 249), (249, -1), (600, 10)])
def test_x0_landing_on_makes_one_ddim_step_land_on_the_target(kind, t, s):
    """The distillation target: a DDIM step (eta 0, no clipping) from x_t with that x0 estimate ends
    exactly on x_s; for s = -1 the estimate is x_s itself."""
    sched = NoiseSchedule(1000, kind)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand((3, 1, 8, 8), generator=g) * 2 - 1, torch.randn((3, 1, 8, 8), generator=g)
    x_t = sched.add_noise(x0, eps, torch.tensor(t))
    x_s = sched.add_noise(x0, torch.randn((3, 1, 8, 8), generator=g), torch.tensor(s)) if s >= 0 else x0
    target = sched.x0_landing_on(x_t, t, x_s, s)
    ddim = DDIMSampler(sched, clip_x0=False)
    ddim.timesteps, ddim._prev = torch.tensor([t]), {t: s}
    out = ddim.step(sched.predict_eps(x_t, target, t), t, x_t)
    torch.testing.assert_close(out.prev_sample, x_s, rtol=1e-3, atol=2e-3)
    if s < 0:
        torch.testing.assert_close(target, x0)
    # a DDIM step with the true x0 lands elsewhere (on the mean of the deterministic path), not on this x_s
    assert (sched.x0_landing_on(x_t, t, x_s, s) - x0).abs().max() > 1e-3 or s < 0
