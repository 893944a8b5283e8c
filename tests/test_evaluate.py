"""The evaluation toolkit: distances behave (about 0 for real vs real, growing with damage), and the
simple image measures (MSE, PSNR, hidden-pixel MSE, mid-grey fraction, classifier accuracy)."""
import pytest
import torch

from helpers import evaluate as ev
from helpers.classifier import CLASSIFIER_PATH, Classifier
from helpers.data import mnist_tensors, unnormalize_to_zero_to_one

needs_classifier = pytest.mark.skipif(not CLASSIFIER_PATH.exists(), reason="data/mnist_classifier.pt not trained yet")


def test_frechet_of_identical_gaussians_is_zero_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4000, 8, generator=g), torch.randn(4000, 8, generator=g)
    assert ev.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert ev.frechet_distance(a, b) < 0.1
    # a mean shift of 1 in each of the 8 coordinates: distance exactly 8 (covariances equal)
    assert ev.frechet_distance(a, a + 1) == pytest.approx(8, abs=1e-6)
    assert ev.frechet_distance(a, 2 * a) == pytest.approx(ev.frechet_distance(a, 2 * a.flip(0)), abs=1e-6)
    assert ev.frechet_distance(a, 2 * a) > 7     # Tr((sigma - 2 sigma)^2) ~ 8


def test_kernel_distance_is_unbiased_near_zero_and_positive_for_different_sets():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(600, 16, generator=g), torch.randn(600, 16, generator=g)
    assert abs(ev.kernel_distance(a, b)) < 0.02
    assert ev.kernel_distance(a * 1.5 + 0.5, b) > 0.2


def test_kernel_distance_is_not_decided_by_two_samples_on_a_unit_the_reference_never_uses():
    """A ReLU unit silent in every real digit and faintly active in two generated ones (the shipped model
    at n = 5,000): standardising by its tiny std made their kernel value dominate the estimate."""
    g = torch.Generator().manual_seed(2)
    real, gen = torch.randn(600, 16, generator=g).relu(), torch.randn(600, 16, generator=g).relu()
    real[:, 0], gen[:, 0] = 0, 0
    outliers = gen.clone()
    outliers[:2, 0] = torch.tensor([0.05, 0.04])
    assert ev.kernel_distance(outliers, real) == pytest.approx(ev.kernel_distance(gen, real), abs=0.005)
    assert abs(ev.kernel_distance(outliers, real)) < 0.02


def test_confusion_and_accuracy_report():
    labels = torch.tensor([0, 0, 1, 2])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 10).float()
    r = ev.accuracy_report(probs, labels)
    assert r["accuracy"] == 0.75
    assert r["per_digit"][:3] == [0.5, 1.0, 1.0]
    assert r["confusion"][0, 1] == 1 and r["confusion"].sum() == 4
    with pytest.raises(ValueError, match="probs"):
        ev.accuracy_report(probs[:, :5], labels)


def test_an_abstention_counts_as_wrong_and_is_reported():
    labels = torch.tensor([0, 0, 1, 2, 3])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 10, 1, 10, 3]), 11).float()   # two "not a digit"
    r = ev.accuracy_report(probs, labels)
    assert r["accuracy"] == pytest.approx(0.6) and r["abstained"] == pytest.approx(0.4) and r["abstained_n"] == 2
    assert r["confusion"].shape == (10, 11) and r["confusion"][:, 10].sum() == 2
    assert r["per_digit"][0] == 0.5 and r["per_digit"][2] == 0.0


def sparse_features(n, g):
    """ReLU-like features: 8 dense units and 8 rare ones (active for 1 % of images, like the
    classifier's penultimate units that are silent on most digits)."""
    dense = torch.relu(torch.randn(n, 8, generator=g))
    rare = (torch.rand(n, 8, generator=g) < 0.01) * torch.randn(n, 8, generator=g).abs() * 3
    return torch.cat([dense, rare], 1)


def test_kernel_distance_survives_units_silent_in_one_small_set():
    g = torch.Generator().manual_seed(0)
    kids = torch.tensor([ev.kernel_distance(sparse_features(100, g), sparse_features(100, g)) for _ in range(20)])
    assert kids.abs().median() < 0.15 and kids.abs().max() < 0.5       # same distribution: about 0
    a, b = sparse_features(100, g), sparse_features(100, g)
    assert ev.kernel_distance(a, b) == pytest.approx(ev.kernel_distance(b, a))
    assert ev.kernel_distance(a * 1.5 + 0.5, b) > 1.0                    # a different one is still seen


def test_diversity_is_zero_for_copies():
    f = torch.randn(1, 4).repeat(5, 1)
    d = ev.diversity(torch.cat([f, torch.randn(5, 4)]), torch.tensor([0] * 5 + [1] * 5))
    assert d[0] == pytest.approx(0) and d[1] > 0


def test_bad_images_are_rejected():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        ev.check_images(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\[0, 1\].*helpers\.data\.unnormalize_to_zero_to_one"):
        ev.check_images(torch.full((2, 1, 28, 28), -1.0))


@needs_classifier
def test_real_vs_real_is_small_and_damage_increases_distances():
    x, y = mnist_tensors("val")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:1000]
    x01, y = unnormalize_to_zero_to_one(x[idx]), y[idx]
    clean = ev.evaluate_samples(x01, y)
    assert clean["accuracy"] > 0.98
    assert clean["kid"] < 0.01
    assert clean["fd"] < 2 * clean["fd_real"]
    blurred = torch.nn.functional.avg_pool2d(x01, 3, stride=1, padding=1)
    noisy = (x01 + 0.3 * torch.randn_like(x01)).clamp(0, 1)
    for damaged in (blurred, noisy):
        r = ev.evaluate_samples(damaged, y)
        assert r["kid"] > clean["kid"] + 0.01
        assert r["fd"] > clean["fd"] * 2


def test_reference_spread_measures_the_draw_to_draw_spread():
    r = ev.reference_spread(300, seeds=range(3))
    assert r["n"] == 300 and r["seeds"] == [0, 1, 2]
    assert r["real_vs_real"][0] == pytest.approx(ev.real_vs_real(300, 0)["fd"])
    for key in ("real_vs_real", "train_vs_ref"):
        assert len(r[key]) == 3 and min(r[key]) > 0
        assert len(set(r[key])) == 3, f"{key}: every seed draws different digits"
    # training digits are real digits: as close to the test reference as two test sets (within the spread)
    assert max(r["train_vs_ref"]) < 3 * max(r["real_vs_real"])


@needs_classifier
def test_real_vs_real_spread_is_the_std_over_draws_and_shrinks_with_n():
    small, large = ev.real_vs_real_spread(50, seeds=range(4)), ev.real_vs_real_spread(500, seeds=range(4))
    fds = torch.tensor([ev.real_vs_real(50, s)["fd"] for s in range(4)])
    assert small["n"] == 50 and small["fd"] == pytest.approx(fds.std(correction=0).item())
    assert small["fd"] > large["fd"] > 0 and small["kid"] > large["kid"] > 0
    assert small["diversity"] > large["diversity"] > 0       # a digit's diversity from 5 images or from 50


def test_accuracy_noise_covers_the_spread_of_simulated_accuracies():
    """About 95% of differences between two accuracy measurements of the same p fall within accuracy_noise."""
    g = torch.Generator().manual_seed(0)
    p, n = 0.82, 500
    a, b = (torch.bernoulli(torch.full((2000, n), p), generator=g).mean(1) for _ in range(2))
    inside = ((a - b).abs() <= ev.accuracy_noise(p, p, n)).float().mean().item()
    assert 0.93 <= inside <= 0.97
    assert ev.accuracy_noise(1.0, 1.0, 500) == 0 and ev.accuracy_noise(0.5, 0.5, 2000) < ev.accuracy_noise(0.5, 0.5, 500)
    with pytest.raises(ValueError, match="accuracies in"):
        ev.accuracy_noise(82, 86, 500)       # percentages, not fractions


# image measures ------------------------------------------------------------------------------

def test_mid_gray_fraction_and_mse():
    x = torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0, 0.3]).view(1, 1, 2, 3)
    assert ev.mid_gray_fraction(x) == pytest.approx(2 / 6)
    two = torch.cat([x, torch.zeros_like(x)])
    assert ev.mid_gray_fraction(two, per_image=True).tolist() == pytest.approx([2 / 6, 0])
    assert ev.mse(torch.zeros(2, 2), torch.ones(2, 2) * 3) == pytest.approx(9)


def test_classifier_accuracy_with_a_classifier_that_always_says_three():
    clf = Classifier().eval()
    with torch.no_grad():
        clf.head[-1].weight.zero_()
        clf.head[-1].bias.copy_(torch.arange(11) == 3)
    y = torch.tensor([3, 3, 1, 0])
    assert ev.classifier_accuracy(clf, torch.rand(4, 1, 28, 28), y) == pytest.approx(0.5)


def test_psnr_and_hidden_mse():
    ref = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.8
    assert torch.allclose(ev.psnr(ref + 0.1, ref), torch.full((4,), 20.0), atol=1e-3)   # MSE 0.01
    assert ev.psnr(ref * 0.5, ref).lt(ev.psnr(ref * 0.9, ref)).all()
    mask = torch.ones(4, 1, 28, 28)
    mask[:, :, 14:] = 0                                          # the bottom half hidden
    damaged = ref + 0.2 * (1 - mask)                             # only the hidden half is wrong
    assert torch.allclose(ev.hidden_mse(damaged, ref, mask), torch.full((4,), 0.04), atol=1e-6)
    assert ev.hidden_mse(ref + 0.2 * mask, ref, mask).abs().max() < 1e-12
    with pytest.raises(ValueError, match="equal shapes"):
        ev.psnr(ref, ref[:2])


def test_mean_spread():
    m, s = ev.mean_spread([1.0, 2.0, 3.0])
    assert m == 2.0 and s == pytest.approx(1.0)
    assert ev.mean_spread([0.5]) == (0.5, 0.0)


@needs_classifier
def test_real_ratio_reads_real_digits_near_one_and_damaged_ones_far_above():
    """Validation digits (training-set images the reference draws never contain) score about what
    training digits score: a real ratio near 1; blurred ones several times that. Medians over the draws."""
    x, y = mnist_tensors("val")
    x01 = unnormalize_to_zero_to_one(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(1))[:500]])
    real = ev.real_ratio(x01, seeds=range(3))
    assert (real["n"], real["seeds"]) == (500, 3) and real["fd"] > 0 and real["fd_train"] > 0
    assert 0.6 < real["real_ratio"] < 1.6
    blurred = ev.real_ratio(torch.nn.functional.avg_pool2d(x01, 3, stride=1, padding=1), seeds=range(3))
    assert blurred["fd_train"] == pytest.approx(real["fd_train"])          # the same real draws
    assert blurred["real_ratio"] > 3 * real["real_ratio"]
