"""The generic verdicts every notebook's claims are built from: each on both sides of its threshold."""
import pytest

from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, Verdict, at_least, better, combine,
                              differs, proportion_noise, wilson_interval, within)


def test_wilson_interval_contains_the_proportion_and_narrows_with_n():
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.192, abs=0.005)    # the textbook value
    lo2, hi2 = wilson_interval(500, 1000)
    assert hi2 - lo2 < (hi - lo) / 3
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == 1   # clamped at the ends
    assert wilson_interval(10, 10)[0] < 1                                        # 10 of 10 is not certainty
    with pytest.raises(ValueError, match="k <= n"):
        wilson_interval(11, 10)


def test_proportion_noise_is_half_the_interval():
    lo, hi = wilson_interval(30, 100)
    assert proportion_noise(0.3, 100) == pytest.approx((hi - lo) / 2)
    assert proportion_noise(0.3, 10_000) < proportion_noise(0.3, 100) / 5


@pytest.mark.parametrize("value,status", [(0.62, SUPPORTED), (0.52, CANNOT_TELL), (0.40, NOT_SUPPORTED)])
def test_at_least_on_each_side_of_its_level(value, status):
    v = at_least(value, 0.5, noise=0.05, claim="half are read")
    assert v.status == status and "half are read" in v.text


@pytest.mark.parametrize("a,b,sign", [(0.9, 0.7, 1), (0.7, 0.9, -1), (0.75, 0.7, 0)])
def test_differs_needs_more_than_the_noise(a, b, sign):
    assert differs(a, b, 0.1) == sign


def test_differs_rejects_negative_noise():
    with pytest.raises(ValueError, match="noise"):
        differs(1, 0, -0.1)


@pytest.mark.parametrize("a,b,higher,status", [(0.9, 0.7, True, SUPPORTED), (0.7, 0.9, True, NOT_SUPPORTED),
                                               (0.75, 0.7, True, CANNOT_TELL), (2.0, 5.0, False, SUPPORTED),
                                               (5.0, 2.0, False, NOT_SUPPORTED)])
def test_better_says_cannot_tell_within_the_noise(a, b, higher, status):
    v = better(a, b, 0.1, names=("ours", "theirs"), higher_is_better=higher)
    assert v.status == status and "ours" in v.text
    assert ("within the noise" in v.text) == (status == CANNOT_TELL)


@pytest.mark.parametrize("value,status", [(0.5, SUPPORTED), (0.38, CANNOT_TELL), (0.1, NOT_SUPPORTED),
                                          (0.9, NOT_SUPPORTED)])
def test_within_on_each_edge(value, status):
    assert within(value, 0.4, 0.6, noise=0.05).status == status


def test_combine():
    s, n, c = (Verdict(x, "") for x in (SUPPORTED, NOT_SUPPORTED, CANNOT_TELL))
    assert combine([s, s], "").status == SUPPORTED
    assert combine([n, n], "").status == NOT_SUPPORTED
    assert combine([c, c], "").status == CANNOT_TELL
    assert combine([s, n], "").status == PARTLY
    assert combine([n, c], "").status == NOT_SUPPORTED
    assert combine([s, c], "").status == PARTLY


def test_verdict_renders_as_markdown_and_rejects_unknown_status():
    v = Verdict(SUPPORTED, "x is 3.")
    assert v._repr_markdown_() == "**Supported:** x is 3." and str(v) == "Supported: x is 3."
    with pytest.raises(ValueError, match="unknown verdict status"):
        Verdict("maybe", "")


def test_difference_noise_and_ceiling():
    from helpers.verdicts import at_ceiling, difference_noise, proportion_noise
    assert difference_noise(0.5, 0.5, 100) == pytest.approx(2 ** 0.5 * proportion_noise(0.5, 100))
    assert at_ceiling(1.0, 64) and not at_ceiling(1.0, 16) and not at_ceiling(0.9, 1000)
