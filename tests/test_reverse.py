"""helpers.reverse: crossing points, power spectra, trajectory scoring and sweeps on small inputs."""
import math

import pytest
import torch
from torch import nn

from helpers import reverse as rv
from helpers.classifier import CLASSIFIER_PATH, Classifier
from helpers.pipeline import Pipeline
from helpers.samplers import Trajectory
from helpers.schedule import NoiseSchedule
from helpers.unet import UNet, UNetConfig

needs_classifier = pytest.mark.skipif(not CLASSIFIER_PATH.exists(), reason="data/mnist_classifier.pt not trained yet")


# crossing points ------------------------------------------------------------------------------

def test_crossing_point_interpolates_a_ramp():
    f = torch.linspace(0, 1, 11)
    assert rv.crossing_point(f, f, 0.5) == pytest.approx(0.5)
    assert rv.crossing_point(f, f, 0.45) == pytest.approx(0.45)
    assert rv.crossing_point(f, f ** 2, 0.25) == pytest.approx(0.5)


def test_sustained_crossing_ignores_an_early_touch():
    f = torch.tensor([0, 0.25, 0.5, 0.75, 1.0])
    v = torch.tensor([0, 0.6, 0.2, 0.8, 1.0])
    assert rv.crossing_point(f, v, 0.5, sustained=False) == pytest.approx(0.25 * 0.5 / 0.6)
    assert rv.crossing_point(f, v, 0.5) == pytest.approx(0.5 + 0.25 * 0.3 / 0.6)


def test_crossing_edge_cases():
    f = torch.tensor([0.0, 0.5, 1.0])
    assert rv.crossing_point(f, [0.7, 0.8, 0.9], 0.5) == 0.0              # above from the start
    assert math.isnan(rv.crossing_point(f, [0.1, 0.2, 0.3], 0.5))        # never
    assert math.isnan(rv.crossing_point(f, [0.1, 0.9, 0.3], 0.5))        # falls back below at the end
    assert rv.crossing_point(f, [0.1, 0.9, 0.3], 0.5, sustained=False) == pytest.approx(0.25)
    assert rv.crossing_point(f, [0.5, 0.5, 0.5], 0.5) == 0.0              # reaching the level counts
    # falling through a level: an error that drops from 1 to 0
    assert rv.crossing_point(f, [1.0, 0.5, 0.0], 0.1, rising=False) == pytest.approx(0.9)


@pytest.mark.parametrize("fraction, values, match", [
    ([0, 0.5, 1], [0, 1], "one non-zero length"),
    ([], [], "one non-zero length"),
    ([[0, 1]], [[0, 1]], "1-D"),
    ([0, 0.5, 0.5], [0, 1, 1], "strictly increasing"),
    ([0, 0.5, 1], [0, float("nan"), 1], "NaN"),
])
def test_crossing_rejects_bad_input(fraction, values, match):
    with pytest.raises(ValueError, match=match):
        rv.crossing_point(fraction, values, 0.5)


def test_crossing_table_per_digit_and_overall():
    K = 21
    f, k = torch.linspace(0, 1, K), torch.arange(K)
    per_digit = torch.stack([(k >= d + 1).double() for d in range(10)], 1)   # digit d: 0 -> 1 at 0.05 (d + 1)
    c = rv.Curves(f, torch.arange(K), per_digit.mean(1), per_digit.mean(1), per_digit)
    table = rv.crossing_table(c, levels=(0.5, 0.9))
    for d in range(10):   # a 0 -> 1 jump between neighbouring samples crosses 0.5 halfway, 0.9 near the top
        assert table[0.5][d] == pytest.approx(0.05 * (d + 1) - 0.025)
        assert table[0.9][d] == pytest.approx(0.05 * (d + 1) - 0.005)
    assert table[0.5][10] < table[0.9][10] == pytest.approx(0.45)


# power spectra --------------------------------------------------------------------------------

def test_power_spectrum_of_a_constant_image_is_all_in_bin_zero():
    p = rv.radial_power_spectrum(torch.full((28, 28), 0.7))
    assert p.shape == (15,)
    assert p[0] == pytest.approx(0.49)
    assert p[1:].abs().max() < 1e-12


@pytest.mark.parametrize("kx, ky", [(3, 0), (0, 7), (3, 4), (10, 0)])
def test_power_spectrum_of_a_sinusoid_peaks_at_its_frequency(kx, ky):
    H = 28
    i = torch.arange(H, dtype=torch.float64)
    x = torch.cos(2 * math.pi * (kx * i[None, :] + ky * i[:, None]) / H)
    p = rv.radial_power_spectrum(x)
    k = round(math.hypot(kx, ky))
    assert int(p.argmax()) == k
    assert p[k] > 0.999 * p.sum()
    # Parseval: power times ring size sums to mean(x^2) = 1/2 (no power falls in the dropped corners)
    counts = torch.bincount(rv.radial_bins(H).flatten(), minlength=H)[: H // 2 + 1]
    assert (p * counts).sum() == pytest.approx(0.5)


def test_power_spectrum_keeps_leading_dims_and_white_noise_is_flat():
    x = torch.randn(32, 4, 28, 28, generator=torch.Generator().manual_seed(0))
    p = rv.radial_power_spectrum(x)
    assert p.shape == (32, 4, 15)
    mean = p.mean(dim=(0, 1))[1:]                  # white noise: the same power at every frequency
    assert (mean.max() / mean.min()) < 1.5
    assert mean.mean().item() == pytest.approx(1 / 28 ** 2, rel=0.1)


@pytest.mark.parametrize("bad", [torch.zeros(28), torch.zeros(2, 28, 27), torch.zeros(1, 1), "image"])
def test_power_spectrum_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="square images"):
        rv.radial_power_spectrum(bad)


def test_spectral_error_sees_which_frequency_differs():
    H = 28
    i = torch.arange(H, dtype=torch.float64)
    final = torch.randn(4, 1, H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    wave = torch.cos(2 * math.pi * 2 * i / H)[None, :].expand(H, H)
    seq = torch.stack([final + 0.5 * wave, final + 0.1 * wave, final])          # (3, 4, 1, H, H)
    err = rv.spectral_error(seq, final)
    assert err.shape == (3, 15)
    assert err[:, [0, 1, 3, 4]].abs().max() < 1e-12 and err[-1].abs().max() < 1e-12
    assert err[0, 2] == pytest.approx(25 * err[1, 2].item())
    settle = rv.settling_fractions([0, 0.5, 1], err, level=err[1, 2].item() * 2)
    assert settle[2] == pytest.approx(0.5 - 0.5 * (err[1, 2] * 2 - err[1, 2]) / (err[0, 2] - err[1, 2]), rel=1e-6)
    assert settle[0] == 0.0
    with pytest.raises(ValueError, match=r"\(K, N, C, H, W\)"):
        rv.spectral_error(final, final)


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
    scores = rv.score_trajectory(fake_trajectory(labels), labels, clf)
    xt, x0 = scores["x_t"], scores["x0"]
    assert xt.fraction.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert xt.t.tolist() == [30, 20, 10, 0, -1]
    assert xt.accuracy.tolist() == [0, 0, 1, 1, 1]
    assert xt.per_digit.shape == (5, 10) and (xt.per_digit[2:] == 1).all()
    assert (xt.confidence[:2] < 0.01).all() and (xt.confidence[2:] > 0.99).all()
    assert x0.fraction.tolist() == [0, 0.25, 0.5, 0.75] and x0.accuracy.tolist() == [1, 1, 1, 1]
    assert all(0 <= lo and hi <= 1 for lo, hi in clf.seen)  # the classifier only saw [0, 1]
    assert rv.crossing_point(xt.fraction, xt.accuracy, 0.5) == pytest.approx(0.375)


def test_score_trajectory_every_keeps_first_and_last():
    labels = torch.arange(10)
    scores = rv.score_trajectory(fake_trajectory(labels, S=4), labels, MarkerClassifier(), every=3)
    assert scores["x_t"].fraction.tolist() == [0, 0.75, 1.0]
    assert scores["x0"].fraction.tolist() == [0, 0.75]


def test_score_trajectory_rejects_bad_input():
    labels = torch.arange(10)
    traj = fake_trajectory(labels)
    with pytest.raises(ValueError, match="every"):
        rv.score_trajectory(traj, labels, MarkerClassifier(), every=0)
    with pytest.raises(ValueError, match="holds 10 images for 20 labels"):
        rv.score_trajectory(traj, labels.repeat(2), MarkerClassifier())
    traj.x0.pop()
    with pytest.raises(ValueError, match="needs 5 x_t and 4 x0"):
        rv.score_trajectory(traj, labels, MarkerClassifier())


def test_noised_real_curves_follow_the_noise_level():
    labels = torch.arange(10).repeat(10)
    like = rv.Curves(torch.tensor([0, 0.5, 0.99, 1.0]), torch.tensor([99, 50, 0, -1]), *[None] * 3)
    clf = MarkerClassifier()
    c = rv.noised_real_curves(marker_images(labels, 0), labels, NoiseSchedule(100), like, clf)
    assert c.fraction.tolist() == like.fraction.tolist() and c.t.tolist() == [99, 50, 0, -1]
    assert c.accuracy[0] < 0.5 and c.accuracy[-2:].tolist() == [1, 1]     # noise at t = 99, clean at the end
    assert all(0 <= lo and hi <= 1 for lo, hi in clf.seen)


def test_score_trajectory_with_a_reader_and_its_timesteps():
    labels = torch.arange(10).repeat(2)
    seen = []

    def reader(x, t):                                       # a perfect reader: always shows the right marker
        seen.append(t)
        return marker_images(labels, 0)

    scores = rv.score_trajectory(fake_trajectory(labels), labels, MarkerClassifier(), reader=reader)
    assert set(scores) == {"x_t", "x0", "x_t_read"}
    assert scores["x_t_read"].accuracy.tolist() == [1] * 5 and scores["x_t"].accuracy.tolist() == [0, 0, 1, 1, 1]
    assert seen == [30, 20, 10, 0, -1]


def test_linear_denoiser_matches_the_gaussian_posterior_mean():
    g = torch.Generator().manual_seed(0)
    mu, var = torch.tensor([0.5, 0.0, -0.3, 0.0]), torch.tensor([4.0, 1.0, 0.25, 0.01])
    x0 = (mu + var.sqrt() * torch.randn(40000, 4, generator=g)).view(-1, 1, 2, 2)   # independent pixels
    schedule = NoiseSchedule(1000)
    den = rv.LinearDenoiser(x0, schedule)
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
        rv.LinearDenoiser(x0[:1], schedule)


# figures from trajectories --------------------------------------------------------------------

def test_trajectory_pairs_and_strip():
    labels = torch.arange(10).repeat(2)
    traj = fake_trajectory(labels)
    frames, titles, steps = rv.trajectory_pairs(traj, [0, 0.5, 1.0], n=20)
    assert steps == [0, 2, 4] and len(titles) == 3 and "100%" in titles[-1]
    assert frames[0].dim() == 2 and all(f.shape == frames[0].shape for f in frames)
    assert frames[0].shape == (2 + 2 * 30, 2 * (2 + 10 * 30) + 6)
    assert 0 <= frames[0].min() and frames[0].max() <= 1
    rv.plot_strip(traj, [0, 0.5, 1.0], rows=2)
    rv.pair_figure(traj, 4, n=10)
    with pytest.raises(ValueError, match="step must lie in 0..4"):
        rv.pair_figure(traj, 5)
    scores = rv.score_trajectory(traj, labels, MarkerClassifier())
    rv.plot_scores(scores, "fake")
    rv.plot_per_digit(scores["x_t"])


# sweeps ---------------------------------------------------------------------------------------

def test_network_calls_and_fewest_steps():
    assert rv.network_calls(50, 1.0) == 50 and rv.network_calls(50, 0) == 50 and rv.network_calls(50, 3) == 100
    rows = [{"sampler": "ddim", "steps": s, "accuracy": a} for s, a in ((1, 0.2), (10, 0.985), (20, 0.97), (50, 0.99))]
    rows.append({"sampler": "ddpm", "steps": 5, "accuracy": 0.99})
    assert rv.fewest_steps(rows, "ddim") == 10
    assert rv.fewest_steps(rows, "ddim", level=0.99) == 50
    assert rv.fewest_steps(rows, "dpm++") is None


def tiny_pipeline():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, mults=(1, 2), blocks=1))
    return Pipeline(model, NoiseSchedule(100), guidance=1.0)


def test_sweep_rejects_unbalanced_n():
    with pytest.raises(ValueError, match="multiple of 10"):
        rv.sweep(tiny_pipeline(), [{"sampler": "ddim", "steps": 1}], n=15)


@needs_classifier
def test_sweep_rows_and_call_budget():
    rows = rv.sweep(tiny_pipeline(), [{"sampler": "ddim", "steps": 1}, {"sampler": "ddpm", "steps": 4, "guidance": 2},
                                      {"sampler": "ddpm", "steps": 4, "guidance": 2, "guidance_interval": (0, 30)}],
                    n=20, max_calls=100, keep=5, progress=False)
    # 4 steps x 2 passes = 8 calls per image: 100 // 8 -> 10 images; guiding only t = 24 of (99, 74, 49, 24):
    # 5 calls per image -> all 20
    assert [r["n"] for r in rows] == [20, 10, 20]
    assert rows[1]["guidance"] == 2.0 and rows[0]["guidance"] == 1.0
    for r in rows:
        assert r["images"].shape == (5, 1, 28, 28) and r["images_per_s"] > 0
        assert 0 <= r["accuracy"] <= 1 and len(r["per_digit"]) == 10 and math.isfinite(r["kid"])


# helpers.evaluate's kernel distance at the sweeps' small n ------------------------------------

def sparse_features(n, g):
    """ReLU-like features: 8 dense units and 8 rare ones (active for 1 % of images, like the
    classifier's penultimate units that are silent on most digits)."""
    dense = torch.relu(torch.randn(n, 8, generator=g))
    rare = (torch.rand(n, 8, generator=g) < 0.01) * torch.randn(n, 8, generator=g).abs() * 3
    return torch.cat([dense, rare], 1)


def test_kernel_distance_survives_units_silent_in_one_small_set():
    from helpers.evaluate import kernel_distance
    g = torch.Generator().manual_seed(0)
    kids = torch.tensor([kernel_distance(sparse_features(100, g), sparse_features(100, g)) for _ in range(20)])
    assert kids.abs().median() < 0.15 and kids.abs().max() < 0.5       # same distribution: about 0
    a, b = sparse_features(100, g), sparse_features(100, g)
    assert kernel_distance(a, b) == pytest.approx(kernel_distance(b, a))
    assert kernel_distance(a * 1.5 + 0.5, b) > 1.0                    # a different one is still seen
