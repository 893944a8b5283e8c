"""helpers.samplers: timesteps, determinism, guidance, and sampling accuracy with an exact "oracle".

Without a trained model a sampler's output says little, so the distribution-level checks use data
whose optimal eps-prediction is known in closed form: a mixture of isotropic Gaussians in a tiny
(1, 4, 4) image space. For x_t = sqrt(ab) x0 + sqrt(1 - ab) eps and component k (mean m_k, std s),
x_t ~ N(sqrt(ab) m_k, v) with v = ab s^2 + 1 - ab, and

    E[eps | x_t] = sum_k r_k(x_t) sqrt(1 - ab) (x_t - sqrt(ab) m_k) / v,

r_k the posterior component weights. With this oracle, a correct sampler must reproduce the data
distribution up to its discretisation error.
"""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers.samplers import (DDIMSampler, Denoiser, Step, Trajectory, denoise, make_sampler, network_calls,
                              record_trajectory, reverse)
from helpers.schedule import ModelPrediction, NoiseSchedule
from helpers.unet import UNet, UNetConfig

T = 1000
SHAPE = (1, 4, 4)


def patterns():
    """Two fixed, clearly different 'images' with values in [-0.5, 0.5]."""
    u = torch.linspace(-1, 1, 4)
    a = 0.5 * u[None, :, None] * torch.ones(1, 4, 4)            # vertical ramp
    return torch.stack([a, -a.transpose(1, 2)])                 # (2, 1, 4, 4)


class MixtureOracle(nn.Module):
    """Exact eps-prediction for: label 0 -> N(m_0, s^2 I), label 1 -> N(m_1, s^2 I),
    null label 2 -> the mixture w_0 N(m_0, s^2 I) + (1 - w_0) N(m_1, s^2 I). s = 0: two points."""

    def __init__(self, schedule: NoiseSchedule, s: float = 0.2, w0: float = 0.3):
        super().__init__()
        self.schedule, self.s, self.null_label = schedule, s, 2
        self.config = SimpleNamespace(prediction="eps")             # what the Denoiser reads its output as
        self.register_buffer("means", patterns())
        self.register_buffer("log_w", torch.tensor([[0.0, -math.inf], [-math.inf, 0.0],
                                                    [math.log(w0), math.log(1 - w0)]]))
        self.dummy = nn.Parameter(torch.zeros(()))                  # the Denoiser reads the device from here

    def forward(self, x_t, t, y):
        ab = self.schedule.alpha_bar[t.cpu()].to(x_t).view(-1, 1, 1, 1, 1)      # (B, 1, 1, 1, 1)
        v = ab * self.s ** 2 + 1 - ab
        diff = x_t[:, None] - ab.sqrt() * self.means[None]                      # (B, K, C, H, W)
        logits = self.log_w[y] - diff.pow(2).sum(dim=(2, 3, 4)) / (2 * v.view(-1, 1))
        r = logits.softmax(dim=1)[:, :, None, None, None]
        return (r * (1 - ab).sqrt() * diff / v).sum(dim=1)

    def true_mean_var(self, y: int):
        """Per-pixel mean (C, H, W) and variance (C, H, W) of the data for label y."""
        w = self.log_w[y].exp()[:, None, None, None]
        mean = (w * self.means).sum(0)
        var = (w * (self.means - mean) ** 2).sum(0) + self.s ** 2
        return mean, var


def exact(oracle):
    """The oracle as a float32 denoiser (no bf16 autocast): its answers stay exact."""
    return Denoiser(oracle, oracle.schedule, bf16=False)


def run(oracle, name, steps, y, n, seed, eta=0.0, guidance=1.0, capture=False, interval=None):
    sampler = make_sampler(name, oracle.schedule, steps, eta)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, *SHAPE), generator=g)
    loop = record_trajectory if capture else reverse
    return loop(exact(oracle), sampler, x_T, torch.full((n,), y), guidance=guidance, generator=g,
                guidance_interval=interval)


def nearest_component(x, oracle):
    d = (x[:, None] - oracle.means[None]).pow(2).sum(dim=(2, 3, 4))
    return d.min(dim=1)


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(T, "cosine")


@pytest.fixture(scope="module")
def gauss(schedule):
    return MixtureOracle(schedule, s=0.2)


@pytest.fixture(scope="module")
def points(schedule):
    return MixtureOracle(schedule, s=0.0, w0=0.3)


# the oracle itself ----------------------------------------------------------------------------

def test_oracle_is_the_minimum_mse_eps_predictor(gauss, schedule):
    """Sanity check of the test's own oracle: on fresh noisy data it beats a perturbed oracle and
    is unbiased (mean residual ~0)."""
    g = torch.Generator().manual_seed(0)
    n, y = 20000, 2
    comp = (torch.rand(n, generator=g) > 0.3).long()
    x0 = gauss.means[comp] + gauss.s * torch.randn((n, *SHAPE), generator=g)
    t = torch.randint(0, T, (n,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    x_t = schedule.add_noise(x0, noise, t)
    eps = gauss(x_t, t, torch.full((n,), y))
    mse = (eps - noise).pow(2).mean()
    assert (eps - noise).mean().abs() < 0.01
    assert mse < (0.95 * eps - noise).pow(2).mean() and mse < (1.05 * eps - noise).pow(2).mean()
    assert mse < 0.9                                # far better than predicting 0 (mse 1)


# timesteps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpm++"])
def test_trailing_timesteps(schedule, name):
    smp = make_sampler(name, schedule, 1)
    assert smp.timesteps.tolist() == [T - 1], "a 1-step sampler must start from pure noise, t = T-1"
    assert smp.prev_timestep(T - 1) == -1
    smp.set_timesteps(T)
    assert smp.timesteps.tolist() == list(range(T - 1, -1, -1)), "T steps must visit every t"
    for steps in (2, 3, 7, 10, 50, 333, 999):
        ts = smp.set_timesteps(steps).timesteps
        assert len(ts) == steps and ts[0] == T - 1 and ts[-1] >= 0
        assert (ts.diff() < 0).all(), f"{steps} steps: timesteps must strictly decrease"
        assert smp.prev_timestep(ts[-1]) == -1 and smp.prev_timestep(ts[0]) == ts[1]


@pytest.mark.parametrize("steps", [0, -1, T + 1])
def test_step_count_out_of_range_raises(schedule, steps):
    with pytest.raises(ValueError, match=f"1..{T}"):
        make_sampler("ddim", schedule, 10).set_timesteps(steps)
    with pytest.raises(ValueError, match=f"1..{T}"):
        make_sampler("dpm++", schedule, steps)                  # 0 must not fall back to T steps


def test_unknown_sampler_raises(schedule):
    with pytest.raises(ValueError, match="'heun'"):
        make_sampler("heun", schedule)


# determinism ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, mults=(1, 2)))
    with torch.no_grad():
        for p in model.out[-1].parameters():                  # leave the zero-initialised state
            p.normal_(0, 0.1)
    return model.eval()


@pytest.mark.parametrize("name,eta", [("ddpm", 0.0), ("ddim", 1.0), ("ddim", 0.0), ("dpm++", 0.0)])
def test_seeded_generator_gives_identical_samples(tiny_unet, schedule, name, eta):
    y = torch.tensor([0, 3, 7])

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        x_T = torch.randn((3, 1, 28, 28), generator=g)
        return reverse(Denoiser(tiny_unet, schedule), make_sampler(name, schedule, 4, eta), x_T, y, guidance=2.0,
                       generator=g)
    a, b, c = draw(0), draw(0), draw(1)
    assert torch.equal(a, b), "the same seed must give bit-identical samples"
    assert not torch.allclose(a, c), "another seed must give other samples"
    assert a.shape == (3, 1, 28, 28) and a.min() >= -1 and a.max() <= 1


def test_stochastic_samplers_consume_the_generator(points):
    """Same x_T, different generator states: DDPM and DDIM(eta>0) differ, DDIM(eta=0) does not."""
    x_T = torch.randn((64, *SHAPE), generator=torch.Generator().manual_seed(0))
    y = torch.full((64,), 2)
    for name, eta, stochastic in [("ddpm", 0.0, True), ("ddim", 0.5, True), ("ddim", 0.0, False)]:
        outs = [reverse(exact(points), make_sampler(name, points.schedule, 20, eta), x_T, y,
                        generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
        assert torch.equal(*outs) != stochastic, f"{name} eta={eta}"


# DDIM(eta = 1, T steps) and ancestral DDPM ----------------------------------------------------

def test_ddim_eta1_with_T_steps_is_ancestral_ddpm_pathwise(gauss):
    """Algebraically the same update with the same noise draws: with one seed the paths coincide."""
    a = run(gauss, "ddpm", T, y=2, n=256, seed=0)
    b = run(gauss, "ddim", T, y=2, n=256, seed=0, eta=1.0)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-3)


@pytest.mark.parametrize("y", [0, 2])
def test_ddim_eta1_and_ddpm_agree_in_distribution(gauss, y):
    """Independent seeds; each sampler's per-pixel mean and variance match the data's and each other's."""
    n = 2000
    a = run(gauss, "ddpm", T, y=y, n=n, seed=1)
    b = run(gauss, "ddim", T, y=y, n=n, seed=2, eta=1.0)
    mean, var = gauss.true_mean_var(y)
    se_mean = (var / n).sqrt()
    for x, name in [(a, "ddpm"), (b, "ddim eta=1")]:
        z = (x.mean(0) - mean) / se_mean
        assert z.abs().max() < 4.5, f"{name}: per-pixel means off by {z.abs().max():.1f} standard errors"
        ratio = x.var(0) / var                                   # each ~ 1 +- sqrt(2 / n) = 3 %
        assert (ratio - 1).abs().max() < 0.15 and abs(ratio.mean() - 1) < 0.05, f"{name}: variance ratio {ratio}"
    z_ab = (a.mean(0) - b.mean(0)) / (2 * var / n).sqrt()
    assert z_ab.abs().max() < 4.5
    assert abs(a.var(0).mean() / b.var(0).mean() - 1) < 0.06


def test_intermediate_marginals_match_the_forward_process(gauss, schedule):
    """Along DDPM's path, x_t must have the forward process's marginal N(sqrt(ab) m, ab s^2 + 1 - ab)."""
    n = 2000
    _, traj = run(gauss, "ddpm", T, y=0, n=n, seed=3, capture=True)
    m = gauss.means[0]
    for i in (0, 500, 900, 990):                    # traj.x_t[i + 1] is x at timesteps[i] - 1
        t_prev = traj.timesteps[i].item() - 1
        ab = schedule.alpha_bar[t_prev]
        x = traj.x_t[i + 1]
        var = ab * gauss.s ** 2 + 1 - ab
        z = (x.mean(0) - ab.sqrt() * m) / (var / n).sqrt()
        assert z.abs().max() < 4.5, f"t = {t_prev}: mean off by {z.abs().max():.1f} standard errors"
        assert abs(x.var(0).mean() / var - 1) < 0.05, f"t = {t_prev}: variance {x.var(0).mean():.4f} vs {var:.4f}"


# the other samplers recover the data too ------------------------------------------------------

def expected_final_var(gauss, schedule, smp):
    """Every sampler ends by returning x0_hat = E[x0 | x_t] at its last t: for a Gaussian component
    that shrinks the variance to s^2 * ab s^2 / (ab s^2 + 1 - ab) (noticeable only for few steps)."""
    ab = schedule.alpha_bar[smp.timesteps[-1]]
    s2 = gauss.s ** 2
    return s2 * ab * s2 / (ab * s2 + 1 - ab)


def variance_ratio(gauss, name, steps, n=2000, seed=4):
    """Sampled per-pixel variance of label 0 over the variance expected after the final x0 step."""
    x = run(gauss, name, steps, y=0, n=n, seed=seed)
    target = expected_final_var(gauss, gauss.schedule, make_sampler(name, gauss.schedule, steps))
    z = (x.mean(0) - gauss.means[0]) / (target / n) ** 0.5
    assert z.abs().max() < 4.5, f"{name} {steps} steps: means off by {z.abs().max():.1f} SE"
    return (x.var(0).mean() / target).item()


# DDIM converges slowly (first order): about 0.85 of the variance at 10-20 steps, 0.90 at 50, 0.97
# at 200 on this problem; DPM-Solver++(2M) is within a few per cent from 10 steps on.
@pytest.mark.parametrize("name,steps,tol", [("ddim", T, 0.05), ("ddim", 50, 0.15), ("dpm++", 50, 0.05),
                                            ("dpm++", 20, 0.05), ("dpm++", 10, 0.06)])
def test_deterministic_samplers_recover_a_gaussian(gauss, name, steps, tol):
    ratio = variance_ratio(gauss, name, steps)
    assert abs(ratio - 1) < tol, f"{name} {steps} steps: variance {ratio:.3f} x the expected one"


@pytest.mark.parametrize("steps", [10, 20])
def test_dpm_solver_is_more_accurate_than_ddim_at_few_steps(gauss, steps):
    err_dpm, err_ddim = (abs(variance_ratio(gauss, name, steps) - 1) for name in ("dpm++", "ddim"))
    assert err_dpm < err_ddim / 2, f"{steps} steps: dpm++ variance error {err_dpm:.3f}, ddim {err_ddim:.3f}"


@pytest.mark.parametrize("name,steps,eta", [("ddpm", T, 0.0), ("ddim", T, 1.0), ("ddim", T, 0.0),
                                            ("ddim", 50, 0.0), ("dpm++", 20, 0.0), ("dpm++", 10, 0.0),
                                            ("ddpm", 50, 0.0)])
def test_samplers_recover_the_mixture_weights(points, name, steps, eta):
    """Two-point data (30 % / 70 %): every sample lands on a point, in the right proportion."""
    n = 2000
    x = run(points, name, steps, y=points.null_label, n=n, seed=5, eta=eta)
    dist, comp = nearest_component(x, points)
    assert dist.max() < 1e-3, f"{name}: samples must land on one of the two points"
    frac = (comp == 0).float().mean().item()
    se = (0.3 * 0.7 / n) ** 0.5
    assert abs(frac - 0.3) < 4.5 * se, f"{name} {steps} steps: {frac:.3f} of samples on the 30 % point"


# guidance -------------------------------------------------------------------------------------

def test_denoiser_guidance_endpoints(tiny_unet, schedule):
    """guidance 1: the conditional output (one pass), 0: the unconditional one (one pass), w: out_u +
    w (out_c - out_u) (both passes as one batch of 2B); x0 is the schedule's inverse of that eps."""
    g = torch.Generator().manual_seed(0)
    x_t, y = torch.randn((4, 1, 28, 28), generator=g), torch.tensor([1, 2, 3, 4])
    t = 500
    tt = torch.full((4,), t)
    with torch.no_grad():
        eps_c, eps_u = tiny_unet(x_t, tt, y), tiny_unet(x_t, tt, torch.full_like(y, 10))
    assert (eps_c - eps_u).abs().max() > 1e-4, "the test needs a label-dependent model"
    denoiser = Denoiser(tiny_unet, schedule, bf16=False)
    batches = []
    hook = tiny_unet.register_forward_hook(lambda m, args, out: batches.append(len(args[0])))
    try:
        preds = {w: denoiser(x_t, t, y, w) for w in (1.0, 0.0, 3.0)}
    finally:
        hook.remove()
    assert batches == [4, 4, 8], "w = 0 and w = 1 take one pass, any other scale one batch of both passes"
    assert all(isinstance(p, ModelPrediction) for p in preds.values())
    torch.testing.assert_close(preds[1.0].eps, eps_c)
    torch.testing.assert_close(preds[0.0].eps, eps_u)
    torch.testing.assert_close(preds[3.0].eps, eps_u + 3.0 * (eps_c - eps_u), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(preds[1.0].x0, schedule.predict_x0(x_t, eps_c, t))
    torch.testing.assert_close(preds[0.0].x0, schedule.predict_x0(x_t, eps_u, t))
    torch.testing.assert_close(preds[3.0].x0, schedule.predict_x0(x_t, eps_u + 3.0 * (eps_c - eps_u), t),
                               rtol=1e-4, atol=1e-5)
    assert denoiser.device == torch.device("cpu") and denoiser.prediction == "eps"


@pytest.mark.parametrize("w", [1.0, 2.5])
def test_denoiser_takes_t_as_an_int_or_one_per_image(tiny_unet, schedule, w):
    g = torch.Generator().manual_seed(1)
    x_t, y = torch.randn((4, 1, 28, 28), generator=g), torch.tensor([0, 5, 9, 2])
    denoiser = Denoiser(tiny_unet, schedule, bf16=False)
    one, per_image = denoiser(x_t, 500, y, w), denoiser(x_t, torch.full((4,), 500), y, w)
    torch.testing.assert_close(per_image.eps, one.eps)
    torch.testing.assert_close(per_image.x0, one.x0)
    ts = torch.tensor([10, 300, 600, 990])
    mixed = denoiser(x_t, ts, y, w)
    for i, t in enumerate(ts.tolist()):                 # each image is read at its own timestep
        alone = denoiser(x_t[i:i + 1], t, y[i:i + 1], w)
        torch.testing.assert_close(mixed.eps[i:i + 1], alone.eps, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(mixed.x0[i:i + 1], alone.x0, rtol=1e-3, atol=1e-3)   # x0 divides by sqrt(alpha_bar)
    torch.testing.assert_close(mixed.x0, schedule.predict_x0(x_t, mixed.eps, ts))
    assert (mixed.x0 - one.x0).abs().max() > 1e-2, "the timesteps must matter"


def test_guidance_zero_samples_the_unconditional_model(points):
    """With the oracle: labels 0 at guidance 0 give exactly the null label's samples, and guidance 1
    follows the label (every sample on point 0)."""
    uncond_by_guidance = run(points, "ddim", 20, y=0, n=500, seed=6, guidance=0.0)
    uncond_by_label = run(points, "ddim", 20, y=points.null_label, n=500, seed=6)
    torch.testing.assert_close(uncond_by_guidance, uncond_by_label, rtol=0, atol=1e-6)
    cond = run(points, "ddim", 20, y=0, n=500, seed=6, guidance=1.0)
    assert (nearest_component(cond, points)[1] == 0).all()
    strong = run(points, "ddim", 20, y=1, n=500, seed=6, guidance=4.0)
    assert (nearest_component(strong, points)[1] == 1).all()


def test_guidance_interval_guides_only_inside_the_window(points):
    """Two passes (a batch of 2N) exactly at the timesteps inside [lo, hi], one pass elsewhere, and
    network_calls counts the same."""
    smp = make_sampler("ddim", points.schedule, 10)                     # t = 999, 899, ..., 99
    seen = []
    hook = points.register_forward_hook(lambda m, args, out: seen.append((int(args[1][0]), len(args[0]))))
    try:
        reverse(exact(points), smp, torch.randn((4, *SHAPE)), torch.zeros(4, dtype=torch.long), guidance=3.0,
                guidance_interval=(200, 700))
    finally:
        hook.remove()
    ts = smp.timesteps.tolist()
    assert seen == [(t, 8 if 200 <= t <= 700 else 4) for t in ts]
    assert network_calls(smp.timesteps, 3.0, (200, 700)) == sum(n for _, n in seen) // 4 == 15
    assert network_calls(10, 3.0) == 20 and network_calls(10, 1.0) == 10 and network_calls(10, 0.0) == 10
    with pytest.raises(ValueError, match="timesteps themselves"):
        network_calls(10, 3.0, (200, 700))


def test_guidance_interval_endpoints(points):
    """A window over every timestep is plain guidance; a window between two timesteps is w = 1."""
    full = run(points, "dpm++", 10, y=1, n=200, seed=3, guidance=0.5)
    torch.testing.assert_close(run(points, "dpm++", 10, y=1, n=200, seed=3, guidance=0.5, interval=(0, 999)), full)
    cond = run(points, "dpm++", 10, y=1, n=200, seed=3, guidance=1.0)
    torch.testing.assert_close(run(points, "dpm++", 10, y=1, n=200, seed=3, guidance=0.5, interval=(100, 150)), cond)
    assert (full - cond).abs().max() > 1e-3, "the test needs guidance that changes the samples"


@pytest.mark.parametrize("interval", [(500, 200), (-1, 500), (0, 1000), (3,), "ab", 5])
def test_bad_guidance_interval_raises(points, interval):
    with pytest.raises(ValueError, match="guidance_interval"):
        run(points, "ddim", 5, y=0, n=2, seed=0, guidance=2.0, interval=interval)


# the loop's extras ----------------------------------------------------------------------------

def test_trajectory_capture(points):
    x, traj = run(points, "ddim", 8, y=2, n=5, seed=7, capture=True)
    assert isinstance(traj, Trajectory) and traj.timesteps.tolist() == make_sampler(
        "ddim", points.schedule, 8).timesteps.tolist()
    xs, x0s = traj.stack()
    assert xs.shape == (9, 5, *SHAPE) and x0s.shape == (8, 5, *SHAPE)
    torch.testing.assert_close(xs[0], torch.randn((5, *SHAPE), generator=torch.Generator().manual_seed(7)))
    torch.testing.assert_close(xs[-1].clamp(-1, 1), x)
    assert x0s.abs().max() <= 1, "captured x0 estimates are clipped to [-1, 1]"


def test_trajectory_holds_exactly_what_denoise_yields(gauss):
    smp = make_sampler("ddpm", gauss.schedule, 6)
    x_T, y = loop_inputs()
    x, traj = record_trajectory(exact(gauss), smp, x_T, y, generator=torch.Generator().manual_seed(3))
    steps = list(denoise(exact(gauss), smp, x_T, y, generator=torch.Generator().manual_seed(3)))
    assert len(traj.x_t) == len(steps) + 1 == 7 and len(traj.x0) == len(steps) == 6
    assert torch.equal(traj.x_t[0], x_T)
    for k, step in enumerate(steps):
        assert torch.equal(traj.x_t[k + 1], step.x) and torch.equal(traj.x0[k], step.x0), f"step {k}"
    assert torch.equal(x, steps[-1].x.clamp(-1, 1))


# the one loop: denoise ------------------------------------------------------------------------

def loop_inputs(n=4, seed=0):
    """x_T (n, 1, 4, 4) and the null label for the oracles."""
    return torch.randn((n, *SHAPE), generator=torch.Generator().manual_seed(seed)), torch.full((n,), 2)


class Calls:
    """Records the (x_t, t) of every network call of a module, while in a with block."""

    def __init__(self, module):
        self.module, self.x, self.t = module, [], []

    def __enter__(self):
        self.hook = self.module.register_forward_hook(self.record)   # returns None: the output is kept
        return self

    def record(self, module, args, out):
        self.x.append(args[0].clone())
        self.t.append(int(args[1][0]))

    def __exit__(self, *exc):
        self.hook.remove()


def test_denoise_yields_one_step_per_timestep(gauss):
    smp = make_sampler("ddim", gauss.schedule, 10)
    x_T, y = loop_inputs()
    with Calls(gauss) as calls:
        steps = list(denoise(exact(gauss), smp, x_T, y))
    ts = smp.timesteps.tolist()
    assert all(isinstance(s, Step) and not s.redo for s in steps)
    assert [s.i for s in steps] == list(range(10)) and [s.t for s in steps] == ts
    assert [s.t_prev for s in steps] == ts[1:] + [-1]
    assert calls.t == ts and torch.equal(calls.x[0], x_T)
    for k in range(1, 10):                               # each step starts from the previous one's x
        assert torch.equal(calls.x[k], steps[k - 1].x)
    assert all(s.x.shape == x_T.shape and s.x0.abs().max() <= 1 for s in steps)


def test_replacing_step_x_changes_the_next_steps_input(gauss):
    smp = make_sampler("ddim", gauss.schedule, 10)
    x_T, y = loop_inputs()
    replacement = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(1))
    with Calls(gauss) as calls:
        for step in denoise(exact(gauss), smp, x_T, y):
            if step.i == 3:
                natural, step.x = step.x, replacement.clone()
    assert len(calls.x) == 10 and torch.equal(calls.x[4], replacement)
    assert (natural - replacement).abs().max() > 0.1
    fresh = reverse(exact(gauss), smp, replacement, y, start=4)      # the loop went on from the replacement
    assert torch.equal(step.x.clamp(-1, 1), fresh)
    assert (reverse(exact(gauss), smp, x_T, y) - fresh).abs().max() > 1e-2, "the replacement must matter"


def test_redo_repeats_the_same_timestep(gauss):
    smp = make_sampler("ddim", gauss.schedule, 6)
    ts = smp.timesteps.tolist()
    x_T, y = loop_inputs()
    visits, outs, x_in = [], [], x_T
    with Calls(gauss) as calls:
        for step in denoise(exact(gauss), smp, x_T, y):
            visits.append((step.i, step.t))
            if step.i == 2:
                outs.append(step.x)
                if len(outs) == 1:                       # set x back to the sample at t and take the step again
                    step.x, step.redo = x_in, True
            x_in = step.x
    assert visits == [(0, ts[0]), (1, ts[1]), (2, ts[2]), (2, ts[2]), (3, ts[3]), (4, ts[4]), (5, ts[5])]
    assert calls.t == [t for _, t in visits] and torch.equal(calls.x[3], calls.x[2])
    assert torch.equal(outs[0], outs[1]), "deterministic DDIM from the same x_t: the same step twice"
    assert torch.equal(step.x.clamp(-1, 1), reverse(exact(gauss), smp, x_T, y))


def test_start_skips_the_first_steps(points):
    smp = make_sampler("ddim", points.schedule, 10)
    x_T, y = loop_inputs()
    full = list(denoise(exact(points), smp, x_T, y))
    x_6 = full[5].x                                      # the sample at timesteps[6]
    with Calls(points) as calls:
        steps = list(denoise(exact(points), smp, x_6, y, start=6))
    assert [s.i for s in steps] == [6, 7, 8, 9] and [s.t for s in steps] == smp.timesteps[6:].tolist()
    assert calls.t == smp.timesteps[6:].tolist() and torch.equal(calls.x[0], x_6)
    for a, b in zip(steps, full[6:]):                    # the same steps as the tail of the full run
        assert torch.equal(a.x, b.x) and torch.equal(a.x0, b.x0)
    x, traj = record_trajectory(exact(points), smp, x_6, y, start=6)
    assert traj.timesteps.tolist() == smp.timesteps[6:].tolist() and len(traj.x_t) == 5 and len(traj.x0) == 4
    assert torch.equal(x, full[-1].x.clamp(-1, 1))
    for step in denoise(exact(points), smp, x_6, y, start=6):
        if step.i == 9:
            step.x = torch.zeros_like(step.x)            # replace the final result
    assert torch.count_nonzero(step.x) == 0


def test_reverse_is_the_last_steps_x_clamped(tiny_unet, schedule):
    smp = DDIMSampler(schedule, clip_x0=False).set_timesteps(3)       # unclipped x0: x_0 may leave [-1, 1]
    x_T, y = torch.randn((3, 1, 28, 28), generator=torch.Generator().manual_seed(0)), torch.tensor([0, 3, 7])
    denoiser = Denoiser(tiny_unet, schedule, bf16=False)
    last = list(denoise(denoiser, smp, x_T, y, guidance=2.0))[-1]
    assert last.t_prev == -1 and last.x.abs().max() > 1, "the test needs a result outside [-1, 1]"
    assert torch.equal(reverse(denoiser, smp, x_T, y, guidance=2.0), last.x.clamp(-1, 1))


def test_autoguidance_guides_with_the_weaker_models_conditional_output(tiny_unet, schedule):
    """With a guide, w mixes the two networks' conditional outputs: out_g + w (out_c - out_g); w = 1 is
    the model alone (one pass), w = 0 the guide alone; the null label is never asked for."""
    torch.manual_seed(1)
    guide = UNet(UNetConfig(base=8, mults=(1, 2))).eval()
    with torch.no_grad():
        for p in guide.out[-1].parameters():
            p.normal_(0, 0.1)
    g = torch.Generator().manual_seed(0)
    x_t, y = torch.randn((4, 1, 28, 28), generator=g), torch.tensor([1, 2, 3, 4])
    tt = torch.full((4,), 500)
    with torch.no_grad():
        out_c, out_g = tiny_unet(x_t, tt, y), guide(x_t, tt, y)
    assert (out_c - out_g).abs().max() > 1e-4, "the test needs two different networks"
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(args[2].tolist())) for m in (tiny_unet, guide)]
    try:
        auto = Denoiser(tiny_unet, schedule, bf16=False, guide=guide)
        preds = {w: auto(x_t, 500, y, w) for w in (1.0, 0.0, 2.5)}
    finally:
        for h in hooks:
            h.remove()
    assert all(labels == y.tolist() for labels in seen) and len(seen) == 4   # 1 + 1 + 2 passes, never the null label
    torch.testing.assert_close(preds[1.0].eps, out_c)
    torch.testing.assert_close(preds[0.0].eps, out_g)
    torch.testing.assert_close(preds[2.5].eps, out_g + 2.5 * (out_c - out_g), rtol=1e-4, atol=1e-5)


def test_autoguidance_needs_a_guide_of_the_same_prediction_type(tiny_unet, schedule):
    with pytest.raises(ValueError, match="guide predicts 'v'"):
        Denoiser(tiny_unet, schedule, guide=UNet(UNetConfig(base=8, mults=(1, 2), prediction="v")))
