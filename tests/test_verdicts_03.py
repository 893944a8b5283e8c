"""The verdicts of notebook 03 (training and the loss): each on both sides of its threshold."""
import pytest

from helpers.analysis import improvement_summary
from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, Verdict, blurred_then_recognisable,
                              ema_has_lower_loss, eps_hardest_at_small_t, gap_is_the_target,
                              image_error_beyond_average_digit, loss_curve_matches_val_loss,
                              loss_improves_consistently, loss_predicts_digits, lower_loss_better_digits,
                              resume_reproduces)

STEPS = [25, 50, 100, 200, 400]


def _loss(values, train_last=0.058):
    return loss_improves_consistently(improvement_summary(values, STEPS), improvement_summary(values, STEPS),
                                      STEPS, train_last)


# the loss improved consistently ------------------------------------------------------------

def test_loss_falling_at_every_evaluation_is_consistent():
    v = _loss([0.5, 0.2, 0.1, 0.07, 0.06])
    assert v.status == SUPPORTED and "fell at every evaluation" in v.text
    assert v.numbers["flattens"] and "flattens" in v.text            # 14% of the drop in the second half
    assert not v.numbers["val_over_train"] >= 1.1 and "no sign of over-fitting" in v.text


def test_loss_with_one_rise_is_partly_consistent():
    v = _loss([0.5, 0.2, 0.25, 0.07, 0.06])
    assert v.status == PARTLY and "rose in 1 of 4 intervals" in v.text


def test_loss_that_does_not_fall_is_not_improvement():
    v = _loss([0.5, 0.3, 0.4, 0.5, 0.6])
    assert v.status == NOT_SUPPORTED and v.numbers["rises"] == 3


def test_loss_still_falling_fast_and_over_fitting_are_named():
    v = _loss([0.5, 0.45, 0.4, 0.2, 0.1], train_last=0.08)          # 1.25x the training loss
    assert not v.numbers["flattens"] and "still falling fast" in v.text
    assert "clearly worse than training" in v.text


# blurred, then recognisable ----------------------------------------------------------------

REAL_GRAY = 0.1


def test_blur_then_sharp_digits_is_supported():
    v = blurred_then_recognisable(STEPS, [0.1, 0.3, 0.7, 0.95, 1.0], [0.12, 0.4, 0.3, 0.14, 0.11], REAL_GRAY, 40)
    assert v.status == SUPPORTED and v.numbers["speckle_first"] and "speckle" in v.text
    assert v.numbers["greyest"] == 1 and "step 50 (40%, 4.0x real digits)" in v.text


def test_blur_phase_but_unfinished_is_partly():
    v = blurred_then_recognisable(STEPS, [0.1, 0.2, 0.4, 0.5, 0.55], [0.3, 0.5, 0.4, 0.3, 0.25], REAL_GRAY, 40)
    assert v.status == PARTLY and "2.5x as grey" in v.text and "recognised only 55%" in v.text


def test_recognisable_without_blur_is_partly():
    v = blurred_then_recognisable(STEPS, [0.1, 0.5, 0.8, 0.95, 1.0], [0.15, 0.15, 0.12, 0.11, 0.1], REAL_GRAY, 40)
    assert v.status == PARTLY and "no clearly blurred phase" in v.text


def test_accuracy_within_noise_of_the_level_cannot_tell():
    # 32 of 40 = 80%: the Wilson interval (65%, 90%) straddles the level
    v = blurred_then_recognisable(STEPS, [0.1, 0.3, 0.6, 0.7, 0.8], [0.12, 0.4, 0.3, 0.14, 0.11], REAL_GRAY, 40)
    assert v.status == CANNOT_TELL and "within the noise" in v.text
    # the same accuracy on 2000 digits is clearly recognisable at 70%
    v = blurred_then_recognisable(STEPS, [0.1, 0.3, 0.6, 0.7, 0.8], [0.12, 0.4, 0.3, 0.14, 0.11], REAL_GRAY, 2000,
                                  level=0.7)
    assert v.status == SUPPORTED


def test_a_run_that_never_gets_there_cannot_tell():
    v = blurred_then_recognisable([15, 30, 60], [0.1, 0.1, 0.12], [0.05, 0.08, 0.1], REAL_GRAY, 40)
    assert v.status == CANNOT_TELL and "cannot test the claim" in v.text


# EMA or raw weights --------------------------------------------------------------------------

def test_ema_lower_loss_is_supported_and_names_the_raw_wins():
    v = ema_has_lower_loss(STEPS, [0.5, 0.2, 0.1, 0.07, 0.06], [0.4, 0.21, 0.11, 0.08, 0.07])
    assert v.status == SUPPORTED and v.numbers["raw_wins"] == [25] and "won only at step 25," in v.text
    assert "16.7% worse" in v.text


def test_raw_lower_loss_is_not_supported_and_reads_the_shipped_history():
    shipped = {"step": [100, 200], "val_loss": [0.05, 0.04], "val_loss_raw": [0.06, 0.041]}
    v = ema_has_lower_loss([15, 30], [0.9, 0.8], [0.85, 0.7], shipped, prediction="v")
    assert v.status == NOT_SUPPORTED and "raw weights win" in v.text
    assert "at 2 of 2 evaluations" in v.text and "v-MSE" in v.text


# lower loss, better digits -------------------------------------------------------------------

def test_lower_loss_and_more_accurate_is_supported():
    v = lower_loss_better_digits({"mine": 0.04, "shipped": 0.03}, {"mine": 0.80, "shipped": 0.95}, 500, 0.05)
    assert v.status == SUPPORTED and v.numbers["lower"] == "shipped"


def test_lower_loss_but_less_accurate_is_not_supported():
    v = lower_loss_better_digits({"EMA": 0.03, "raw": 0.04}, {"EMA": 0.80, "raw": 0.90}, 500, 0.05)
    assert v.status == NOT_SUPPORTED and "**not**" in v.text


def test_accuracy_difference_within_noise_cannot_tell():
    v = lower_loss_better_digits({"EMA": 0.03, "raw": 0.04}, {"EMA": 0.92, "raw": 0.90}, 500, 0.05)
    assert v.status == CANNOT_TELL and "within sampling noise" in v.text


# what the loss means -------------------------------------------------------------------------

TS = [0, 5, 100, 500, 900, 999]


def test_eps_hardest_at_small_t():
    v = eps_hardest_at_small_t(TS, [0.3, 0.2, 0.05, 0.02, 0.005, 0.001], 1000)
    assert v.status == SUPPORTED and v.numbers["t_hard"] == 0 and "highest at the lowest noise level" in v.text
    v = eps_hardest_at_small_t(TS, [0.1, 0.2, 0.3, 0.02, 0.005, 0.001], 1000)
    assert v.status == SUPPORTED and v.numbers["t_hard"] == 100 and "highest at t = 100" in v.text


def test_eps_hardest_elsewhere_is_not_supported():
    v = eps_hardest_at_small_t(TS, [0.01, 0.02, 0.05, 0.2, 0.005, 0.001], 1000)
    assert v.status == NOT_SUPPORTED and v.numbers["region"] == "middle"
    assert eps_hardest_at_small_t(TS, [0.01, 0.02, 0.05, 0.02, 0.5, 0.001], 1000).numbers["region"] == "large"


def test_image_error_crossing_the_average_digit():
    v = image_error_beyond_average_digit(TS, [1e-4, 1e-3, 0.01, 0.05, 0.2, 3.0], 0.1)
    assert v.status == SUPPORTED and v.numbers["crossing"] == 900 and "from t = 900 on" in v.text
    v = image_error_beyond_average_digit(TS, [1e-4, 1e-3, 0.01, 0.05, 0.08, 0.09], 0.1)
    assert v.status == NOT_SUPPORTED and v.numbers["crossing"] is None and "stays below" in v.text


def test_curve_average_against_the_validation_loss():
    ts, flat = [0, 500, 1000], [0.05, 0.05, 0.05]
    assert loss_curve_matches_val_loss(ts, flat, 0.056).status == SUPPORTED          # 12% off
    v = loss_curve_matches_val_loss(ts, flat, 0.06)                                    # 17% off
    assert v.status == NOT_SUPPORTED and "differs from" in v.text
    assert loss_curve_matches_val_loss(ts, [0.1, 0.0, 0.1], 1.0).numbers["average"] == pytest.approx(0.05)


def test_gap_at_large_t_is_the_v_target():
    mine, ref = [0.3, 0.2, 0.05, 0.02, 0.005, 0.002], [0.25, 0.18, 0.04, 0.015, 0.001, 1e-5]
    v = gap_is_the_target(TS, mine, ref, [0.001, 0.01, 0.05, 0.08, 0.09, 0.095], 0.1, 1000, "v")
    assert v.status == SUPPORTED and v.numbers["t_gap"] == 999 and "200x" in v.text
    assert "stays below the average-digit guess" in v.text and v.numbers["start"]
    v = gap_is_the_target(TS, mine, ref, [0.001, 0.01, 0.05, 0.08, 0.09, 0.095], 0.1, 1000, "eps", "v")
    assert v.status == NOT_SUPPORTED and not v.numbers["same_target"]                  # an eps reference


def test_gap_at_small_t_is_training():
    mine, ref = [0.6, 0.2, 0.05, 0.02, 0.005, 0.001], [0.2, 0.18, 0.04, 0.015, 0.004, 0.001]
    v = gap_is_the_target(TS, mine, ref, [0.001] * 6, 0.1, 1000, "v")
    assert v.status == NOT_SUPPORTED and v.numbers["t_gap"] == 0 and not v.numbers["start"]
    assert "3.00x its loss" in v.text


def test_gap_with_the_same_target_is_training():
    mine, ref = [0.6, 0.2, 0.05, 0.02, 0.005, 0.001], [0.2, 0.18, 0.04, 0.015, 0.004, 0.0005]
    v = gap_is_the_target(TS, mine, ref, [0.001] * 6, 0.1, 1000, "v", own_prediction="v")
    assert v.status == SUPPORTED and v.numbers["same_target"] and "like for like" in v.text
    ahead = gap_is_the_target(TS, mine, [0.2, 0.18, 0.04, 0.015, 0.004, 0.002], [0.001] * 6, 0.1, 1000, "v", "v")
    assert ahead.status == PARTLY and "is ahead" in ahead.text
    later = loss_predicts_digits(Verdict(SUPPORTED, ""), Verdict(SUPPORTED, ""), v)
    assert "shorter training" in later.text


def test_loss_predicts_digits_combines_the_two_comparisons():
    yes, no, unsure = (Verdict(s, "") for s in (SUPPORTED, NOT_SUPPORTED, CANNOT_TELL))
    gap = Verdict(SUPPORTED, "", {"t_gap": 999, "ratio_max": 200.0, "start": True})
    v = loss_predicts_digits(yes, yes, gap)
    assert v.status == SUPPORTED and "not in proportion" in v.text and "target (`v`)" in v.text
    v = loss_predicts_digits(yes, unsure, gap)
    assert v.status == PARTLY and "far apart" in v.text and "start of the reverse process" in v.text
    assert loss_predicts_digits(no, no, gap).status == NOT_SUPPORTED
    assert loss_predicts_digits(unsure, unsure, gap).status == CANNOT_TELL


# resuming ------------------------------------------------------------------------------------

def test_resume_exact_or_not():
    v = resume_reproduces(0.0612, 0.0612, 60, 80, 0.0598, 4, 80)
    assert v.status == SUPPORTED and v.numbers["exact"] and "reproduced exactly" in v.text
    v = resume_reproduces(0.0612, 0.06121, 60, 80, 0.0598, 4, 80)
    assert v.status == NOT_SUPPORTED and "differs" in v.text


def test_gap_with_the_same_target_reads_its_noise():
    mine, ref = [0.6, 0.2, 0.05, 0.02, 0.005, 0.001], [0.2, 0.18, 0.04, 0.015, 0.004, 0.0009]
    tight = [0.01, 0.005, 0.001, 0.001, 0.0005, 0.0002]
    v = gap_is_the_target(TS, mine, ref, [0.001] * 6, 0.1, 1000, "v", "v", noise=tight)
    assert v.status == SUPPORTED and v.numbers["within_noise"] == [TS[-1]] and "within noise at t = " in v.text
    assert "beyond noise at 5 of 6" in v.text
    v = gap_is_the_target(TS, mine, ref, [0.001] * 6, 0.1, 1000, "v", "v", noise=[1.0] * 6)
    assert v.status == CANNOT_TELL and len(v.numbers["within_noise"]) == 6
    ahead = [0.6, 0.2, 0.05, 0.02, 0.005, 0.0001]                       # ahead at the last t beyond its noise
    v = gap_is_the_target(TS, ahead, ref, [0.001] * 6, 0.1, 1000, "v", "v", noise=tight)
    assert v.status == PARTLY and v.numbers["ahead"] == [TS[-1]]
