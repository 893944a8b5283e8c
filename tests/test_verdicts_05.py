"""The verdicts of notebook 05 (CLIP as a judge): each on both sides of its threshold, and within
the noise where the measurement has one."""
import pytest
import torch

from helpers.evaluate import mean_noise
from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, clip_improves_sampling, digits_at_ceiling,
                              clip_score_carries_digit, clip_second_validator, easy_and_hard_digits,
                              rankings_agree)

PER_DIGIT = [82.2, 80.1, 80.5, 80.6, 81.0, 81.9, 82.2, 81.2, 81.3, 80.8]


# the CLIP score --------------------------------------------------------------------------------

def test_clip_score_carries_digit():
    v = clip_score_carries_digit(81.2, PER_DIGIT, 72.7, 0.4, 0.996, 0.996, 1000)
    assert v.status == SUPPORTED and "**81.2**" in v.text and "80.1 to 82.2" in v.text and "99.6%" in v.text
    assert clip_score_carries_digit(81.2, PER_DIGIT, -3.0, 0.4, 0.1, 0.996, 1000).status == NOT_SUPPORTED


def test_clip_score_carries_digit_within_noise():
    v = clip_score_carries_digit(81.2, PER_DIGIT, 0.3, 0.4, 0.5, 0.996, 1000)
    assert v.status == CANNOT_TELL and "within the noise" in v.text


# easy and hard digits ------------------------------------------------------------------------

def values_for(rank, step=1.0):
    """Values that put the digits in the order of rank, `step` apart (higher = easier)."""
    return {d: 100 - step * i for i, d in enumerate(rank)}


SMALL = [0.1] * 10


def test_easy_and_hard_digits_supported_when_the_report_ranking_stands_out():
    rank = [1, 0, 4, 6, 3, 7, 2, 9, 5, 8]
    v = easy_and_hard_digits(rank, values_for(rank), SMALL, "classifier")
    assert v.status == SUPPORTED and v.numbers["easy_in"] and v.numbers["hard_in"]
    assert "0 and 1 rank 2 and 1" in v.text and "5 and 8 rank 9 and 10" in v.text


def test_easy_and_hard_digits_not_supported_and_partly():
    rank = [0, 6, 5, 8, 7, 4, 9, 3, 2, 1]                      # the shipped model's CLIP ranking
    v = easy_and_hard_digits(rank, values_for(rank), SMALL, "CLIP score")
    assert v.status == NOT_SUPPORTED and not v.numbers["easy_in"] and not v.numbers["hard_in"]
    assert "does **not** hold" in v.text
    rank = [1, 0, 4, 6, 3, 7, 2, 9, 5, 8][:2] + [5, 8] + [4, 6, 3, 7, 2, 9]   # easy holds, hard fails
    assert easy_and_hard_digits(rank, values_for(rank), SMALL, "x").status == PARTLY


def test_easy_and_hard_digits_within_the_noise():
    rank = [1, 8, 4, 6, 3, 7, 0, 9, 5, 2]                      # 0 outside the top 3, 8 outside the bottom 3 ...
    v = easy_and_hard_digits(rank, values_for(rank, 0.005), [0.025] * 10, "classifier", fmt="{:.0%}")   # ... within
    assert v.status == CANNOT_TELL and "is within the noise" in v.text and "± 4%" in v.text
    assert not v.numbers["easy_in"] and not v.numbers["hard_in"]
    rank = [1, 0, 4, 6, 3, 7, 2, 9, 5, 8]                      # in the groups, but not clearly
    assert easy_and_hard_digits(rank, values_for(rank, 0.01), [0.025] * 10, "x").status == CANNOT_TELL


def test_rankings_agree():
    a = list(range(10))
    v = rankings_agree(a, a)
    assert v.status == SUPPORTED and v.numbers["rho"] == pytest.approx(1.0)
    assert rankings_agree(a, a[::-1]).status == NOT_SUPPORTED
    shipped = rankings_agree([0, 6, 5, 8, 7, 4, 9, 3, 2, 1], [1, 8, 4, 6, 3, 7, 0, 9, 5, 2], n_per_digit=100)
    assert shipped.status == CANNOT_TELL and shipped.numbers["rho"] == pytest.approx(-0.103, abs=1e-3)
    assert "ρ = -0.10" in shipped.text


def test_rankings_agree_matches_pearson_on_positions():
    a, b = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7], [1, 3, 0, 4, 9, 5, 6, 2, 7, 8]
    pos = lambda r: torch.tensor([r.index(d) for d in range(10)], dtype=torch.float64)
    rho = torch.corrcoef(torch.stack([pos(a), pos(b)]))[0, 1].item()
    assert rankings_agree(a, b).numbers["rho"] == pytest.approx(rho)


# CLIP as a second validator ------------------------------------------------------------------

def test_clip_second_validator():
    v = clip_second_validator(0.995, 1000, 5, 5, 0.002, 0.4, 0.4)
    assert v.status == SUPPORTED and "(shown above)" in v.text and "40%" in v.text
    assert clip_second_validator(0.7, 1000, 300, 20, 0.01, 0.5, 0.5).status == NOT_SUPPORTED
    assert "the first 20 shown" in clip_second_validator(0.7, 1000, 300, 20, 0.01, 0.5, 0.5).text


def test_clip_second_validator_within_noise_of_few_digits():
    v = clip_second_validator(1.0, 30, 0, 0, 0.0)              # 30 of 30: Wilson interval from 88.6%
    assert v.status == CANNOT_TELL and "no disputed sample" in v.text
    assert clip_second_validator(1.0, 300, 0, 0, 0.0).status == SUPPORTED


# improving generation ------------------------------------------------------------------------

PLAIN = {"weak_acc": 0.99, "clip": 81.1, "kid": 0.0001}


def test_clip_improves_sampling_within_noise():
    best = {"weak_acc": 1.0, "clip": 82.2, "kid": -0.0012}
    v = clip_improves_sampling("reranking 3 candidates", PLAIN, best, 300, 0.002, "3x the time", 0.997, -0.0019)
    assert v.status == CANNOT_TELL and "99.7% over all candidates" in v.text and "little accuracy to gain" in v.text


def test_clip_improves_sampling_on_each_side():
    plain = {"weak_acc": 0.8, "clip": 80.0, "kid": 0.01}
    assert clip_improves_sampling("m", plain, {"weak_acc": 0.95, "clip": 82, "kid": 0.01}, 300, 0.002,
                                  "c").status == SUPPORTED
    assert clip_improves_sampling("m", plain, {"weak_acc": 0.6, "clip": 82, "kid": 0.01}, 300, 0.002,
                                  "c").status == NOT_SUPPORTED
    v = clip_improves_sampling("m", plain, {"weak_acc": 0.95, "clip": 82, "kid": 0.02}, 300, 0.002, "c")
    assert v.status == PARTLY and v.numbers["moves"] == [1, -1] and "little accuracy" not in v.text


def test_mean_noise():
    assert mean_noise([1.0, 3.0]) == pytest.approx(2 * 2 ** 0.5 / 2 ** 0.5)      # std sqrt(2), n = 2
    assert mean_noise([5.0]) == float("inf")


def test_digits_at_ceiling_on_each_side():
    v = digits_at_ceiling([0.99, 1.0] + [1.0] * 8, 100)
    assert v.status == SUPPORTED and v.numbers["at_ceiling"] and "noise" in v.text
    v = digits_at_ceiling([0.8, 1.0] + [0.95] * 8, 100)
    assert v.status == NOT_SUPPORTED and "digit 0" in v.text


def test_clip_improves_sampling_names_the_digits_it_judges():
    plain, other = {"weak_acc": 0.6, "clip": 80, "kid": 0.05}, {"weak_acc": 0.8, "clip": 82, "kid": 0.05}
    v = clip_improves_sampling("a CLIP loss", plain, other, 1000, 0.01, "c", digits="all digits'")
    assert v.status == SUPPORTED and "all digits' classifier accuracy" in v.text


def test_wording_of_rankings_and_of_a_worse_kid():
    from helpers.verdicts import clip_improves_sampling, easy_and_hard_digits
    rank = [1, 7, 2, 4, 6, 3, 8, 0, 9, 5]
    values = [0.5, 0.9, 0.8, 0.6, 0.7, 0.2, 0.6, 0.85, 0.5, 0.3]
    v = easy_and_hard_digits(rank, values, [0.2] * 10, "classifier")
    assert "easiest 1, 7, 2, hardest 0, 9, 5" in v.text and v.numbers["hard"] in ("cannot tell", "not supported")
    plain, tuned = {"weak_acc": 0.63, "clip": 67.6, "kid": 0.2998}, {"weak_acc": 0.64, "clip": 69.0, "kid": 0.3295}
    w = clip_improves_sampling("a CLIP loss", plain, tuned, 1000, 0.0086, "more", kid_real=-0.0023)
    assert w.status == "not supported" and "their KID worse, the other within the noise" in w.text
    assert "score -0.0023, 0 within the noise" in w.text
