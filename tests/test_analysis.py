"""helpers.analysis on small inputs: the forward process, one call against the reverse process (with an
oracle denoiser that knows x0), probes of the U-Net, the loss's meaning, trajectory scoring, crossing
points, power spectra, sweeps and the cost of a U-Net."""
import math

import pytest
import torch
from torch import nn

from helpers import NoiseSchedule, UNet, UNetConfig, count_parameters
from helpers import analysis as an
from helpers.classifier import CLASSIFIER_PATH, Classifier
from helpers.pipeline import Pipeline
from helpers.samplers import Denoiser, Trajectory, make_sampler, network_calls
from helpers.train import diffusion_loss, short_run

needs_classifier = pytest.mark.skipif(not CLASSIFIER_PATH.exists(), reason="data/mnist_classifier.pt not trained yet")

TINY = UNetConfig(image_size=8, base=8, mults=(1, 2))


def tiny_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 8, 8), generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


class Oracle(nn.Module):
    """Predicts the exact noise for x0 = a constant image of value value_of_label(y): a perfect denoiser."""

    def __init__(self, schedule, value_of_label=lambda y: torch.zeros_like(y, dtype=torch.float)):
        super().__init__()
        self.schedule, self.value_of_label = schedule, value_of_label
        self.config = UNetConfig(image_size=8, mults=(1, 2))           # prediction "eps"
        self.null_label = 10
        self.dummy = nn.Parameter(torch.zeros(1))
        self.seen_labels = []

    def forward(self, x, t, y):
        self.seen_labels.append(y.clone())
        x0 = self.value_of_label(y).view(-1, 1, 1, 1).expand_as(x).to(x.dtype)
        return self.schedule.predict_eps(x, x0, t)


@pytest.fixture
def schedule():
    return NoiseSchedule(50, "linear")


def oracle(schedule, **kw):
    model = Oracle(schedule, **kw)
    return model, Denoiser(model, schedule)


# the forward process --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_destruction_times_are_first_crossings(kind):
    s = NoiseSchedule(200, kind)
    times = an.destruction_times(s, levels=(0.5, 0.05, -1.0))
    for level in (0.5, 0.05):
        t = times[level]
        assert s.alpha_bar[t] < level <= s.alpha_bar[t - 1]
    assert times[-1.0] is None
    assert times[0.5] < times[0.05]


def test_forward_sequential_matches_the_closed_form(schedule):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(256, 1, 8, 8, generator=g) * 2 - 1
    for t in (0, 10, 49):
        x_t = an.forward_sequential(x0, schedule, t, generator=g)
        assert abs(an.noise_residual_std(x_t, x0, schedule, t) - 1) < 0.03
    noiseless = schedule.alpha_bar[10].sqrt() * x0
    assert an.noise_residual_std(noiseless, x0, schedule, 10) < 1e-5
    with pytest.raises(ValueError, match="timesteps"):
        an.forward_sequential(x0, schedule, 50)


# one network call vs the reverse process ------------------------------------------------------

def test_snap_to_grid(schedule):
    grid = make_sampler("ddim", schedule, 10).timesteps                  # 49, 44, ..., 4
    assert an.snap_to_grid([49, 47, 1, 48], grid) == [49, 4]
    assert all(t in grid.tolist() for t in an.snap_to_grid(range(50), grid))


def test_one_call_is_the_clipped_x0_estimate(schedule):
    _, den = oracle(schedule, value_of_label=lambda y: y.float() - 1)      # labels 0, 1, 3 -> -1, 0, 2
    y = torch.tensor([0, 1, 3])
    x_t = schedule.add_noise(torch.zeros(3, 1, 8, 8), torch.randn(3, 1, 8, 8), torch.full((3,), 20))
    x0 = an.one_call(den, x_t, 20, y)
    assert x0.device.type == "cpu" and x0.shape == (3, 1, 8, 8)
    torch.testing.assert_close(x0, (y.float() - 1).clamp(-1, 1).view(3, 1, 1, 1).expand(3, 1, 8, 8),
                               atol=1e-4, rtol=0)                        # 2 is clipped to 1


def test_reverse_from_rejects_off_grid_t(schedule):
    _, den = oracle(schedule)
    with pytest.raises(ValueError, match="snap_to_grid"):
        an.reverse_from(den, torch.zeros(2, 1, 8, 8), 47, torch.zeros(2, dtype=torch.long), steps=10)


def test_recovery_experiment_with_a_perfect_denoiser(schedule):
    y = torch.tensor([1, 2, 3])
    _, den = oracle(schedule, value_of_label=lambda y: (y.float() - 2) / 2)   # labels 1, 2, 3 -> -0.5, 0, 0.5
    x0 = ((y.float() - 2) / 2).view(-1, 1, 1, 1).expand(3, 1, 8, 8).clone()
    res = an.recovery_experiment(den, x0, y, ts=[3, 20, 49], steps=10, progress=False)
    assert res["t"] == [4, 19, 49]                                       # snapped to the 10-step grid
    assert res["calls_reverse"] == [1, 4, 10]
    assert res["acc_one_shot"] == [None] * 3
    for way in ("one_shot", "reverse"):
        assert max(res[f"mse_{way}"]) < 1e-3                                   # the oracle recovers x0
    assert len(res["noise_mse"]) == len(res["noise_gray"]) == 3
    x_t, one, rev = res["images"][19]
    assert x_t.shape == one.shape == rev.shape == (3, 1, 8, 8)
    assert 0 <= one.min() and rev.max() <= 1
    assert res["mse_one_shot"][0] == pytest.approx(res["mse_reverse"][0], abs=1e-6)   # 1 step = 1 call


def test_recovery_experiment_can_hide_the_label(schedule):
    model, den = oracle(schedule)
    x0 = torch.zeros(2, 1, 28, 28)
    clf = Classifier().eval()
    res = an.recovery_experiment(den, x0, torch.tensor([4, 5]), ts=[9], steps=5, classifier=clf,
                                 hide_label=True, progress=False)
    assert model.seen_labels and all((y == 10).all() for y in model.seen_labels)
    assert 0 <= res["acc_reverse"][0] <= 1


def test_recovery_experiment_passes_the_guidance_scale_on(schedule):
    model, den = oracle(schedule)
    an.recovery_experiment(den, torch.zeros(2, 1, 28, 28), torch.tensor([4, 5]), ts=[9], steps=5, progress=False,
                           guidance=2.0)
    assert model.seen_labels and all((y == 10).any() and (y == 4).any() for y in model.seen_labels), \
        "a guided call runs the conditional and the unconditional pass in one batch"


# what the network listens to ------------------------------------------------------------------

def test_label_sweep_keeps_image_and_label_order(schedule):
    _, den = oracle(schedule, value_of_label=lambda y: y.float() / 10)
    x0 = torch.zeros(2, 1, 8, 8)
    x_t, x0_hat = an.label_sweep(den, x0, t=5, labels=[0, 3, 7])
    assert x_t.shape == (2, 1, 8, 8) and x0_hat.shape == (2, 3, 1, 8, 8)
    for j, label in enumerate([0, 3, 7]):
        assert torch.allclose(x0_hat[:, j], torch.full((2, 1, 8, 8), label / 10), atol=1e-4)
    _, x0_rev = an.label_sweep(den, x0, t=19, labels=[0, 3, 7], steps=10)   # reverse process
    assert torch.allclose(x0_rev[1, 2], torch.full((1, 8, 8), 0.7), atol=1e-4)
    with pytest.raises(ValueError, match="grid"):
        an.label_sweep(den, x0, t=5, steps=10)


def test_t_sweep_error_is_smallest_at_the_true_t(schedule):
    x0 = torch.zeros(4, 1, 8, 8)
    _, den = oracle(schedule)
    out = an.t_sweep(den, x0, torch.zeros(4, dtype=torch.long), 20, [0, 10, 20, 30, 49])
    assert out["t"] == [0, 10, 20, 30, 49]
    assert min(range(5), key=lambda i: out["eps_mse"][i]) == 2 and out["eps_mse"][2] < 1e-6
    assert len(out["eps_rms"]) == 5


def test_parameters_by_part_and_trace_shapes():
    model = UNet(TINY).eval()
    parts = an.parameters_by_part(model)
    assert sum(v for k, v in parts.items() if k != "total") == parts["total"] == count_parameters(model)
    rows = an.trace_shapes(model, torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([3, 4]))
    names = [r[0] for r in rows]
    assert names[:3] == ["time_emb", "class_emb", "init_conv"] and names[-1] == "out"
    assert "down.0.0" in names and "up.0.0" in names
    shapes = {r[0]: r for r in rows}
    assert shapes["out"][3] == (2, 1, 8, 8) and shapes["init_conv"][3] == (2, 8, 8, 8)
    assert shapes["up.0.0"][2][1] == 2 * shapes["mid.0"][3][1]              # concatenated skip
    assert all(not m._forward_hooks for m in model.modules())               # hooks removed


# what the loss means --------------------------------------------------------------------------

def test_improvement_summary_counts_decreases_and_rises():
    s = an.improvement_summary([1.0, 0.5, 0.6, 0.3])
    assert (s["decreases"], s["intervals"], s["monotone"]) == (2, 3, False)
    assert s["drop"] == pytest.approx(0.7) and s["best"] == 0.3
    assert s["worst_rise"] == pytest.approx(0.2)
    assert s["second_half_drop"] == pytest.approx(0.4)          # from v[1] = 0.5 to 0.3
    assert an.improvement_summary([3, 2, 1])["monotone"]
    by_step = an.improvement_summary([1.0, 0.5, 0.4, 0.3], steps=[25, 50, 100, 400])
    assert by_step["half_step"] == 100 and by_step["second_half_drop"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="steps"):
        an.improvement_summary([1.0, 0.5], steps=[1])
    with pytest.raises(ValueError, match="at least two"):
        an.improvement_summary([1.0])


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_x0_error_is_eps_error_over_snr(prediction):
    torch.manual_seed(0)
    model = UNet(UNetConfig(**{**TINY.__dict__, "prediction": prediction})).eval()
    schedule = NoiseSchedule(1000, "cosine")
    x0, y = tiny_data(16)
    for t in (10, 400, 900):
        eps_mse, x0_mse = an.eps_and_x0_mse(Denoiser(model, schedule, bf16=False), x0, y, t)
        assert x0_mse == pytest.approx(an.implied_x0_mse([eps_mse], schedule, [t]).item(), rel=1e-3)
    with pytest.raises(ValueError, match="timesteps"):
        an.implied_x0_mse([1.0], schedule, [1000])


def test_eps_mse_by_t_is_the_loss_of_an_eps_model_and_the_implied_eps_error_of_a_v_model():
    schedule = NoiseSchedule(1000, "cosine")
    x0, y = tiny_data(16)
    ts = [10, 500, 990]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
    for prediction in ("eps", "v"):
        torch.manual_seed(0)
        model = UNet(UNetConfig(**{**TINY.__dict__, "prediction": prediction})).eval()
        torch.nn.init.normal_(model.out[-1].weight, std=0.1)        # an output that depends on x, t, y
        den = Denoiser(model, schedule, bf16=False)
        by_t = an.eps_mse_by_t(den, x0, y, ts, seed=3)
        assert by_t.shape == (3,)
        for k, t in enumerate(ts):
            tt = torch.full((16,), t)
            with torch.no_grad():
                if prediction == "eps":                              # the training loss itself
                    want = diffusion_loss(model, schedule, x0, y, tt, noise).item()
                else:                                                # the eps its v output implies
                    x_t = schedule.add_noise(x0, noise, tt)
                    want = (schedule.eps_from_v(model(x_t, tt, y), x_t, tt) - noise).pow(2).mean().item()
            assert by_t[k].item() == pytest.approx(want, rel=1e-4)
        per_image = an.eps_mse(den, x0, y, 500, noise)
        assert per_image.shape == (16,)
        torch.testing.assert_close(an.eps_mse(den, x0, y, torch.full((16,), 500), noise, batch_size=5), per_image)
        assert per_image.mean().item() == pytest.approx(by_t[1].item(), rel=1e-5)


def test_grid_labels():
    assert an.grid_labels(40).tolist() == [d for d in range(10) for _ in range(4)]
    with pytest.raises(ValueError, match="multiple of 10"):
        an.grid_labels(35)


def fake_history(n_grids=3, per_digit=4):
    g = torch.Generator().manual_seed(0)
    grids = [torch.randint(0, 256, (10 * per_digit, 1, 28, 28), generator=g).to(torch.uint8)
             for _ in range(n_grids)]
    return {"step": [50 * (k + 1) for k in range(n_grids)], "samples": grids}


def test_snapshot_quality():
    h = fake_history()
    h["samples"][1].zero_()                                     # an all-black grid: no grey pixels
    q = an.snapshot_quality(h, Classifier().eval())
    assert q["step"] == h["step"] and len(q["accuracy"]) == 3
    assert all(0 <= a <= 1 for a in q["accuracy"]) and q["gray"][1] == 0 and q["gray"][0] > 0.5


# crossing points ------------------------------------------------------------------------------

def test_crossing_point_interpolates_a_ramp():
    f = torch.linspace(0, 1, 11)
    assert an.crossing_point(f, f, 0.5) == pytest.approx(0.5)
    assert an.crossing_point(f, f, 0.45) == pytest.approx(0.45)
    assert an.crossing_point(f, f ** 2, 0.25) == pytest.approx(0.5)


def test_sustained_crossing_ignores_an_early_touch():
    f = torch.tensor([0, 0.25, 0.5, 0.75, 1.0])
    v = torch.tensor([0, 0.6, 0.2, 0.8, 1.0])
    assert an.crossing_point(f, v, 0.5, sustained=False) == pytest.approx(0.25 * 0.5 / 0.6)
    assert an.crossing_point(f, v, 0.5) == pytest.approx(0.5 + 0.25 * 0.3 / 0.6)


def test_crossing_edge_cases():
    f = torch.tensor([0.0, 0.5, 1.0])
    assert an.crossing_point(f, [0.7, 0.8, 0.9], 0.5) == 0.0              # above from the start
    assert math.isnan(an.crossing_point(f, [0.1, 0.2, 0.3], 0.5))        # never
    assert math.isnan(an.crossing_point(f, [0.1, 0.9, 0.3], 0.5))        # falls back below at the end
    assert an.crossing_point(f, [0.1, 0.9, 0.3], 0.5, sustained=False) == pytest.approx(0.25)
    assert an.crossing_point(f, [0.5, 0.5, 0.5], 0.5) == 0.0              # reaching the level counts
    # falling through a level: an error that drops from 1 to 0
    assert an.crossing_point(f, [1.0, 0.5, 0.0], 0.1, rising=False) == pytest.approx(0.9)


@pytest.mark.parametrize("fraction, values, match", [
    ([0, 0.5, 1], [0, 1], "one non-zero length"),
    ([], [], "one non-zero length"),
    ([[0, 1]], [[0, 1]], "1-D"),
    ([0, 0.5, 0.5], [0, 1, 1], "strictly increasing"),
    ([0, 0.5, 1], [0, float("nan"), 1], "NaN"),
])
def test_crossing_rejects_bad_input(fraction, values, match):
    with pytest.raises(ValueError, match=match):
        an.crossing_point(fraction, values, 0.5)


def test_crossing_table_per_digit_and_overall():
    K = 21
    f, k = torch.linspace(0, 1, K), torch.arange(K)
    per_digit = torch.stack([(k >= d + 1).double() for d in range(10)], 1)   # digit d: 0 -> 1 at 0.05 (d + 1)
    c = an.Curves(f, torch.arange(K), per_digit.mean(1), per_digit.mean(1), per_digit)
    table = an.crossing_table(c, levels=(0.5, 0.9))
    for d in range(10):   # a 0 -> 1 jump between neighbouring samples crosses 0.5 halfway, 0.9 near the top
        assert table[0.5][d] == pytest.approx(0.05 * (d + 1) - 0.025)
        assert table[0.9][d] == pytest.approx(0.05 * (d + 1) - 0.005)
    assert table[0.5][10] < table[0.9][10] == pytest.approx(0.45)


def test_crossing_band_and_curve_summary():
    f = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert an.crossing_band(f, f, 0.5, 0.1) == pytest.approx((0.4, 0.6))
    lo, hi = an.crossing_band(f, 0.55 * f, 0.5, 0.1)                 # 0.6 is never reached
    assert lo == pytest.approx(0.4 / 0.55) and hi == math.inf
    assert all(math.isnan(v) for v in an.crossing_band(f, 0.3 * f, 0.5, 0.1))     # nothing is reached
    s = an.curve_summary(an.Curves(f, torch.arange(11), f, f, None), noise=0.1)
    assert s["cross50"] == pytest.approx(0.5) and s["cross90"] == pytest.approx(0.9)
    assert s["band50"] == pytest.approx((0.4, 0.6))
    assert (s["acc40"], s["acc60"], s["start"], s["end"]) == pytest.approx((0.4, 0.6, 0.0, 1.0))


# power spectra --------------------------------------------------------------------------------

def test_power_spectrum_of_a_constant_image_is_all_in_bin_zero():
    p = an.radial_power_spectrum(torch.full((28, 28), 0.7))
    assert p.shape == (15,)
    assert p[0] == pytest.approx(0.49)
    assert p[1:].abs().max() < 1e-12


@pytest.mark.parametrize("kx, ky", [(3, 0), (0, 7), (3, 4), (10, 0)])
def test_power_spectrum_of_a_sinusoid_peaks_at_its_frequency(kx, ky):
    H = 28
    i = torch.arange(H, dtype=torch.float64)
    x = torch.cos(2 * math.pi * (kx * i[None, :] + ky * i[:, None]) / H)
    p = an.radial_power_spectrum(x)
    k = round(math.hypot(kx, ky))
    assert int(p.argmax()) == k
    assert p[k] > 0.999 * p.sum()
    # Parseval: power times ring size sums to mean(x^2) = 1/2 (no power falls in the dropped corners)
    counts = torch.bincount(an.radial_bins(H).flatten(), minlength=H)[: H // 2 + 1]
    assert (p * counts).sum() == pytest.approx(0.5)


def test_power_spectrum_keeps_leading_dims_and_white_noise_is_flat():
    x = torch.randn(32, 4, 28, 28, generator=torch.Generator().manual_seed(0))
    p = an.radial_power_spectrum(x)
    assert p.shape == (32, 4, 15)
    mean = p.mean(dim=(0, 1))[1:]                  # white noise: the same power at every frequency
    assert (mean.max() / mean.min()) < 1.5
    assert mean.mean().item() == pytest.approx(1 / 28 ** 2, rel=0.1)


@pytest.mark.parametrize("bad", [torch.zeros(28), torch.zeros(2, 28, 27), torch.zeros(1, 1), "image"])
def test_power_spectrum_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="square images"):
        an.radial_power_spectrum(bad)


def test_spectral_error_sees_which_frequency_differs():
    H = 28
    i = torch.arange(H, dtype=torch.float64)
    final = torch.randn(4, 1, H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    wave = torch.cos(2 * math.pi * 2 * i / H)[None, :].expand(H, H)
    seq = torch.stack([final + 0.5 * wave, final + 0.1 * wave, final])          # (3, 4, 1, H, H)
    err = an.spectral_error(seq, final)
    assert err.shape == (3, 15)
    assert err[:, [0, 1, 3, 4]].abs().max() < 1e-12 and err[-1].abs().max() < 1e-12
    assert err[0, 2] == pytest.approx(25 * err[1, 2].item())
    settle = an.settling_fractions([0, 0.5, 1], err, level=err[1, 2].item() * 2)
    assert settle[2] == pytest.approx(0.5 - 0.5 * (err[1, 2] * 2 - err[1, 2]) / (err[0, 2] - err[1, 2]), rel=1e-6)
    assert settle[0] == 0.0
    with pytest.raises(ValueError, match=r"\(K, N, C, H, W\)"):
        an.spectral_error(final, final)


# scoring a trajectory with a fake classifier --------------------------------------------------

class MarkerClassifier(nn.Module):
    """Reads the digit from the first 10 pixels of row 0 (a bright marker); remembers input range."""

    def __init__(self):
        super().__init__()
        self.head = nn.Identity()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.seen = []

    def features(self, x):
        Classifier.check(x)
        self.seen.append((x.min().item(), x.max().item()))
        return 20 * x[:, 0, 0, :10]


def marker_images(labels, shift: int, value: float = 1.0):
    x = torch.full((len(labels), 1, 28, 28), -1.0)
    x[torch.arange(len(labels)), 0, 0, (labels + shift) % 10] = value
    return x


def fake_trajectory(labels, S=4):
    """x_t: wrong digit (label + 1) for the first half of the steps, then right; x_T overshoots [-1, 1]."""
    x_t = [marker_images(labels, 1 if k < S // 2 else 0) for k in range(S + 1)]
    x_t[0] = x_t[0] * 4                                     # unbounded x_T
    x0 = [marker_images(labels, 0) for _ in range(S)]
    return Trajectory(torch.arange(S - 1, -1, -1) * 10, x_t, x0)


def test_score_trajectory_curves_fractions_and_clamping():
    labels = torch.arange(10).repeat(2)
    clf = MarkerClassifier()
    scores = an.score_trajectory(fake_trajectory(labels), labels, clf)
    xt, x0 = scores["x_t"], scores["x0"]
    assert xt.fraction.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert xt.t.tolist() == [30, 20, 10, 0, -1]
    assert xt.accuracy.tolist() == [0, 0, 1, 1, 1]
    assert xt.per_digit.shape == (5, 10) and (xt.per_digit[2:] == 1).all()
    assert (xt.confidence[:2] < 0.01).all() and (xt.confidence[2:] > 0.99).all()
    assert x0.fraction.tolist() == [0, 0.25, 0.5, 0.75] and x0.accuracy.tolist() == [1, 1, 1, 1]
    assert all(0 <= lo and hi <= 1 for lo, hi in clf.seen)  # the classifier only saw [0, 1]
    assert an.crossing_point(xt.fraction, xt.accuracy, 0.5) == pytest.approx(0.375)


def test_score_trajectory_every_keeps_first_and_last():
    labels = torch.arange(10)
    scores = an.score_trajectory(fake_trajectory(labels, S=4), labels, MarkerClassifier(), every=3)
    assert scores["x_t"].fraction.tolist() == [0, 0.75, 1.0]
    assert scores["x0"].fraction.tolist() == [0, 0.75]


def test_score_trajectory_rejects_bad_input():
    labels = torch.arange(10)
    traj = fake_trajectory(labels)
    with pytest.raises(ValueError, match="every"):
        an.score_trajectory(traj, labels, MarkerClassifier(), every=0)
    with pytest.raises(ValueError, match="holds 10 images for 20 labels"):
        an.score_trajectory(traj, labels.repeat(2), MarkerClassifier())
    traj.x0.pop()
    with pytest.raises(ValueError, match="needs 5 x_t and 4 x0"):
        an.score_trajectory(traj, labels, MarkerClassifier())


def test_noised_real_curves_follow_the_noise_level():
    labels = torch.arange(10).repeat(10)
    like = an.Curves(torch.tensor([0, 0.5, 0.99, 1.0]), torch.tensor([99, 50, 0, -1]), *[None] * 3)
    clf = MarkerClassifier()
    c = an.noised_real_curves(marker_images(labels, 0), labels, NoiseSchedule(100), like, clf)
    assert c.fraction.tolist() == like.fraction.tolist() and c.t.tolist() == [99, 50, 0, -1]
    assert c.accuracy[0] < 0.5 and c.accuracy[-2:].tolist() == [1, 1]     # noise at t = 99, clean at the end
    assert all(0 <= lo and hi <= 1 for lo, hi in clf.seen)


def test_score_trajectory_with_a_reader_and_its_timesteps():
    labels = torch.arange(10).repeat(2)
    seen = []

    def reader(x, t):                                       # a perfect reader: always shows the right marker
        seen.append(t)
        return marker_images(labels, 0)

    scores = an.score_trajectory(fake_trajectory(labels), labels, MarkerClassifier(), reader=reader)
    assert set(scores) == {"x_t", "x0", "x_t_read"}
    assert scores["x_t_read"].accuracy.tolist() == [1] * 5 and scores["x_t"].accuracy.tolist() == [0, 0, 1, 1, 1]
    assert seen == [30, 20, 10, 0, -1]


def test_linear_denoiser_matches_the_gaussian_posterior_mean():
    g = torch.Generator().manual_seed(0)
    mu, var = torch.tensor([0.5, 0.0, -0.3, 0.0]), torch.tensor([4.0, 1.0, 0.25, 0.01])
    x0 = (mu + var.sqrt() * torch.randn(40000, 4, generator=g)).view(-1, 1, 2, 2)   # independent pixels
    schedule = NoiseSchedule(1000)
    den = an.LinearDenoiser(x0, schedule)
    x = x0[:5000]
    for t in (100, 500, 800):
        ab = schedule.alpha_bar[t]
        x_t = schedule.add_noise(x, torch.randn(x.shape, generator=g), torch.full((len(x),), t))
        expected = mu + ab.sqrt() * var / (ab * var + 1 - ab) * (x_t.flatten(1) - ab.sqrt() * mu)
        assert torch.allclose(den(x_t, t).flatten(1), expected, atol=0.05)
        mse = lambda a: (a.flatten(1) - x.flatten(1)).pow(2).mean().item()
        assert mse(den(x_t, t)) < min(mse(x_t / ab.sqrt()), mse(mu.expand(len(x), 4)))   # beats both naive guesses
    assert torch.equal(den(x, -1), x)                        # t = -1: the clean image is left alone
    with pytest.raises(ValueError, match=r"\(N, 1, 2, 2\)"):
        den(torch.zeros(3, 1, 28, 28), 10)
    with pytest.raises(ValueError, match="at least 2 images"):
        an.LinearDenoiser(x0[:1], schedule)


# sweeps ---------------------------------------------------------------------------------------

def test_network_calls_and_fewest_steps():
    assert network_calls(50, 1.0) == 50 and network_calls(50, 0) == 50 and network_calls(50, 3) == 100
    rows = [{"sampler": "ddim", "steps": s, "accuracy": a} for s, a in ((1, 0.2), (10, 0.985), (20, 0.97), (50, 0.99))]
    rows.append({"sampler": "ddpm", "steps": 5, "accuracy": 0.99})
    assert an.fewest_steps(rows, "ddim") == 10
    assert an.fewest_steps(rows, "ddim", level=0.99) == 50
    assert an.fewest_steps(rows, "dpm++") is None


def tiny_pipeline():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, mults=(1, 2), blocks=1))
    return Pipeline(model, NoiseSchedule(100), guidance=1.0)


def test_sweep_rejects_unbalanced_n():
    with pytest.raises(ValueError, match="multiple of 10"):
        an.sweep(tiny_pipeline(), [{"sampler": "ddim", "steps": 1}], n=15)


@needs_classifier
def test_sweep_rows_and_call_budget():
    rows = an.sweep(tiny_pipeline(), [{"sampler": "ddim", "steps": 1}, {"sampler": "ddpm", "steps": 4, "guidance": 2},
                                      {"sampler": "ddpm", "steps": 4, "guidance": 2, "guidance_interval": (0, 30)}],
                    n=20, max_calls=100, keep=5, progress=False)
    # 4 steps x 2 passes = 8 calls per image: 100 // 8 -> 10 images; guiding only t = 24 of (99, 74, 49, 24):
    # 5 calls per image -> all 20
    assert [r["n"] for r in rows] == [20, 10, 20]
    assert rows[1]["guidance"] == 2.0 and rows[0]["guidance"] == 1.0
    for r in rows:
        assert r["images"].shape == (5, 1, 28, 28) and r["images_per_s"] > 0
        assert 0 <= r["accuracy"] <= 1 and len(r["per_digit"]) == 10 and math.isfinite(r["kid"])


# the cost of a U-Net, and the short training runs the analyses use -----------------------------

def test_short_run_trains_a_fixed_number_of_steps():
    """helpers.train.short_run: the curve is the history."""
    x, y = tiny_data(64)
    trainer = short_run(UNetConfig(**{**TINY.__dict__, "skips": False}), x, y, x[:16], y[:16],
                        steps=5, eval_every=2, batch_size=16, progress=False, bf16=False)
    assert trainer.step == 5 and trainer.history["step"] == [2, 4, 5]
    assert all(0 < v < 10 for v in trainer.history["val_loss_raw"]) and trainer.elapsed > 0
    assert len(trainer.history["val_loss"]) == 3 and not trainer.history["samples"]
    assert not trainer.model.config.skips and not trainer.model.training
    with pytest.raises(ValueError, match="steps"):
        short_run(TINY, x, y, x, y, steps=0)


def test_seconds_per_step():
    x, y = tiny_data(32)
    configs = {"small": TINY, "wide": UNetConfig(image_size=8, base=16, mults=(1, 2))}
    sps = an.seconds_per_step(configs, x, y, batch_size=8, probe_steps=1, rounds=1)
    assert set(sps) == set(configs) and all(s > 0 for s in sps.values())


def test_sampling_ms_per_image_times_eps_and_v_models_alike():
    for prediction in ("eps", "v"):
        model = UNet(UNetConfig(base=8, mults=(1, 2), prediction=prediction))
        ms = an.sampling_ms_per_image(Denoiser(model, NoiseSchedule()), n=4, repeats=2)
        assert math.isfinite(ms) and ms > 0
