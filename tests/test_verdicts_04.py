"""Notebook 04's verdicts: when digits become recognisable, the noise against the model, coarse to
fine, how few steps are enough and what guidance buys; each on both sides of its threshold."""
import math

import pytest
import torch

from helpers.analysis import Curves, crossing_band, curve_summary
from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, coarse_to_fine, distillation_pays,
                              generation_needs_many_steps,
                              guidance_gives_flexibility, noise_sets_the_reading, prediction_knows_digit_first,
                              recognisable_in_window, recognisable_window)


# recognisable at 40-60 % ------------------------------------------------------------------------

def test_a_crossing_at_48_percent_is_inside_the_window():
    v = recognisable_in_window(0.48)
    assert v.status == SUPPORTED and v.numbers["where"] == "inside"
    assert "48%" in v.text
    assert recognisable_in_window(0.48, (0.45, 0.52)).status == SUPPORTED


def test_a_crossing_at_75_percent_or_30_percent_is_outside():
    late, early = recognisable_in_window(0.75, (0.7, 0.8)), recognisable_in_window(0.3)
    assert late.status == early.status == NOT_SUPPORTED
    assert (late.numbers["where"], early.numbers["where"]) == ("after", "before")


def test_a_noise_band_across_the_edge_cannot_tell():
    v = recognisable_in_window(0.58, (0.5, 0.66))          # inside, but the band reaches beyond 60 %
    assert v.status == CANNOT_TELL and v.numbers["where"] == "inside"
    assert "noise" in v.text
    assert recognisable_in_window(0.65, (0.55, 0.7)).status == CANNOT_TELL    # outside, band reaches in
    assert recognisable_in_window(0.5, (0.45, math.inf)).status == CANNOT_TELL   # 50 % + noise never reached


def test_never_reaching_half_is_not_supported():
    v = recognisable_in_window(float("nan"), (float("nan"), float("nan")))
    assert v.status == NOT_SUPPORTED and v.numbers["where"] == "never reached"


def test_the_window_verdict_combines_readers_and_samplers():
    v = recognisable_window({"x_t": {"DDPM": (0.75, (0.7, 0.8)), "DDIM": (0.72, (0.68, 0.76))},
                             "x_t, linear denoiser": {"DDPM": (0.48, (0.45, 0.52)), "DDIM": (0.5, (0.46, 0.55))},
                             "x0_hat": {"DDPM": (0.0, (0.0, 0.0)), "DDIM": (0.05, (0.0, 0.1))}})
    assert v.status == PARTLY                               # one reader of three supports it
    assert v.numbers["status"] == {"x_t": NOT_SUPPORTED, "x_t, linear denoiser": SUPPORTED, "x0_hat": NOT_SUPPORTED}
    assert v.numbers["holds"] == {"x_t": False, "x_t, linear denoiser": True, "x0_hat": False}
    assert v.numbers["inside"]["x_t, linear denoiser"] == ["DDPM", "DDIM"]
    assert "48%" in v.text and "75%" in v.text
    one = recognisable_window({"x_t": {"DDPM": (0.48, (0.45, 0.52))}})
    assert one.status == SUPPORTED
    mixed = recognisable_window({"x_t": {"DDPM": (0.48, (0.45, 0.52)), "DDIM": (0.75, (0.7, 0.8))}})
    assert mixed.status == PARTLY and mixed.numbers["inside"] == {"x_t": ["DDPM"]}
    assert recognisable_window({"x_t": {"DDPM": (0.75, (0.7, 0.8))}}).status == NOT_SUPPORTED


def test_the_window_cannot_tell_when_the_only_candidate_reader_is_within_the_noise():
    v = recognisable_window({"x_t": {"DDPM": (0.87, (0.85, 0.89))}, "x_t, linear denoiser": {"DDPM": (0.48, (0.39, 0.59))},
                             "x0_hat": {"DDPM": (0.1, (0.06, 0.14))}})
    assert v.status == CANNOT_TELL
    assert v.numbers["holds"]["x_t, linear denoiser"] is True          # the crossing alone lies inside


def test_crossing_band_brackets_the_crossing():
    f = torch.linspace(0, 1, 11)
    lo, hi = crossing_band(f, f, 0.5, 0.1)
    assert (lo, hi) == (pytest.approx(0.4), pytest.approx(0.6))
    lo, hi = crossing_band(f, 0.55 * f, 0.5, 0.1)          # 60 % is never reached
    assert lo == pytest.approx(0.4 / 0.55) and hi == math.inf
    assert all(math.isnan(x) for x in crossing_band(f, 0.3 * f, 0.5, 0.1))


def test_curve_summary_reads_a_ramp():
    f = torch.linspace(0, 1, 11, dtype=torch.float64)
    acc = f.float()
    c = Curves(f, torch.arange(11), acc, acc, acc[:, None].repeat(1, 10))
    s = curve_summary(c, noise=0.1)
    assert s["cross50"] == pytest.approx(0.5) and s["cross90"] == pytest.approx(0.9)
    assert s["band50"] == (pytest.approx(0.4), pytest.approx(0.6))
    assert (s["acc40"], s["acc60"], s["start"], s["end"]) == (pytest.approx(0.4), pytest.approx(0.6), 0, 1)
    narrow = curve_summary(c, noise=0.05)["band50"]
    assert recognisable_in_window(s["cross50"], narrow).status == SUPPORTED


# the noise level or the model --------------------------------------------------------------------

def test_noise_sets_the_reading_when_generated_and_real_agree():
    v = noise_sets_the_reading({"x_t": (0.72, (0.68, 0.76)), "x_t, linear denoiser": (0.5, (0.45, 0.55))},
                               {"x_t": (0.70, (0.66, 0.74)), "x_t, linear denoiser": (0.47, (0.43, 0.52))})
    assert v.status == SUPPORTED and "not by the model" in v.text


def test_noise_does_not_set_the_reading_when_far_apart():
    v = noise_sets_the_reading({"x_t": (0.9, (0.85, 0.95))}, {"x_t": (0.6, (0.55, 0.65))})
    assert v.status == NOT_SUPPORTED and "30% apart" in v.text


def test_a_gap_within_the_noise_bands_cannot_tell():
    v = noise_sets_the_reading({"x_t": (0.75, (0.6, 0.9))}, {"x_t": (0.6, (0.5, 0.7))})   # 15 points, bands overlap
    assert v.status == CANNOT_TELL
    nan = float("nan")
    assert noise_sets_the_reading({"x_t": (nan, (nan, nan))}, {"x_t": (0.6, (0.5, 0.7))}).status == CANNOT_TELL


# the prediction names the digit first -----------------------------------------------------------

def test_the_prediction_names_the_digit_long_before_the_noisy_image():
    v = prediction_knows_digit_first((0.1, (0.06, 0.14)), (0.87, (0.85, 0.89)), start=0.12)
    assert v.status == SUPPORTED and "12% of the time" in v.text and "10%" in v.text


def test_the_prediction_first_other_way_round_or_within_the_noise():
    assert prediction_knows_digit_first((0.9, (0.85, 0.95)), (0.5, (0.45, 0.55))).status == NOT_SUPPORTED
    assert prediction_knows_digit_first((0.5, (0.4, 0.6)), (0.6, (0.55, 0.7))).status == CANNOT_TELL
    nan = float("nan")
    assert prediction_knows_digit_first((nan, (nan, nan)), (0.6, (0.55, 0.7))).status == NOT_SUPPORTED
    assert prediction_knows_digit_first((0.1, (0.05, 0.15)), (nan, (nan, nan))).status == CANNOT_TELL


# coarse to fine ----------------------------------------------------------------------------------

def test_coarse_to_fine_both_ways():
    v = coarse_to_fine({"x_t": {"low": 0.6, "high": 0.9}, "x0_hat": {"low": 0.3, "high": 0.8}}, resolution=0.01)
    assert v.status == SUPPORTED and v.numbers["coarse_first"] is True and "60%" in v.text
    w = coarse_to_fine({"x_t": {"low": 0.9, "high": 0.6}})
    assert w.status == NOT_SUPPORTED and w.numbers["coarse_first"] is False


def test_coarse_to_fine_within_the_resolution_cannot_tell():
    v = coarse_to_fine({"x_t": {"low": 0.85, "high": 0.855}}, resolution=0.01)
    assert v.status == CANNOT_TELL and v.numbers["coarse_first"] is True
    mixed = coarse_to_fine({"x_t": {"low": 0.6, "high": 0.9}, "x0_hat": {"low": 0.9, "high": 0.6}})
    assert mixed.status == PARTLY and mixed.numbers["coarse_first"] is False


# how few steps are enough ------------------------------------------------------------------------

def _row(sampler, steps, acc, n=200, ips=10.0):
    return {"sampler": sampler, "steps": steps, "n": n, "accuracy": acc, "kid": 0.01, "images_per_s": ips}


def _sweep(ddim20, ddpm_long=0.99, n_long=200):
    return [_row("ddpm", 1, 0.1, ips=500), _row("ddpm", 20, 0.9, ips=40), _row("ddpm", 1000, ddpm_long, n_long, 0.5),
            _row("ddim", 1, 0.4, ips=500), _row("ddim", 20, ddim20, ips=40)]


def test_few_steps_as_accurate_do_not_support_slow_generation():
    v = generation_needs_many_steps(_sweep(0.985), ("ddpm", 1000))
    assert v.status == NOT_SUPPORTED
    assert v.numbers["fewest"] == {"ddpm": 1000, "ddim": 20} and v.numbers["near_best"] == {"ddpm": 1000, "ddim": 20}
    assert v.numbers["fast"]["sampler"] == "ddim" and "80×" in v.text and "50× fewer steps" in v.text
    assert "With 1 step: ddpm 10%, ddim 40%" in v.text


def test_few_steps_clearly_worse_support_slow_generation():
    v = generation_needs_many_steps(_sweep(0.90, ddpm_long=0.995, n_long=2000), ("ddpm", 1000))
    assert v.status == SUPPORTED and v.numbers["fewest"]["ddim"] is None and "not reached" in v.text


def test_a_gap_within_the_binomial_noise_cannot_tell():
    v = generation_needs_many_steps(_sweep(0.97, ddpm_long=1.0, n_long=10), ("ddpm", 1000))   # 10/10 vs 194/200
    assert v.status == CANNOT_TELL and "within the binomial noise" in v.text
    assert generation_needs_many_steps(_sweep(0.97), ("ddpm", 5000)).status == CANNOT_TELL   # no long chain


def test_a_sweep_whose_fastest_good_setting_is_the_long_chain_cannot_tell():
    rows = [_row("ddpm", 1, 0.7, 20), _row("ddpm", 20, 1.0, 10), _row("ddim", 1, 0.7, 20), _row("ddim", 20, 1.0, 10)]
    v = generation_needs_many_steps(rows, ("ddpm", 20))      # quick mode: steps 1 and 20 only
    assert v.status == CANNOT_TELL and "No setting with fewer steps" in v.text and "faster" not in v.text


def _kid_row(sampler, steps, kid, n=200, ips=10.0):
    return {**_row(sampler, steps, 1.0, n, ips), "kid": kid}


def test_at_the_accuracy_ceiling_the_kid_decides_how_few_steps_do():
    rows = [_kid_row("ddpm", 1, 0.15, ips=300), _kid_row("ddpm", 5, 0.005, ips=60), _kid_row("ddpm", 1000, 0.0, 10, 0.3),
            _kid_row("ddim", 1, 0.15, ips=330), _kid_row("ddim", 2, 0.10, ips=150), _kid_row("ddim", 5, 0.006, ips=64)]
    v = generation_needs_many_steps(rows, ("ddpm", 1000), kid_min_n=100, kid_real=0.003, kid_noise=0.037)
    assert v.status == NOT_SUPPORTED and v.numbers["real_kid"] == {"ddpm": 5, "ddim": 5}
    assert v.numbers["fast"]["steps"] == 5 and "further from real digits than the noise allows (by KID" in v.text and "200× fewer steps" in v.text
    assert generation_needs_many_steps(rows, ("ddpm", 1000)).numbers["fast"]["steps"] == 1   # accuracy alone: 1 step
    far = [dict(r, kid=0.2) for r in rows]                                                   # nothing reaches real
    v = generation_needs_many_steps(far, ("ddpm", 1000), kid_min_n=100, kid_real=0.003, kid_noise=0.037)
    assert v.status == CANNOT_TELL and v.numbers["real_kid"] == {"ddpm": None, "ddim": None} and "not reached" in v.text


# what guidance buys ------------------------------------------------------------------------------

def _g(w, acc, div, fd):
    return {"guidance": w, "accuracy": acc, "diversity": div, "fd": fd}


def test_guidance_is_a_knob_that_trades_diversity():
    v = guidance_gives_flexibility([_g(0, 0.1, 6.0, 9.0), _g(1, 0.9, 5.0, 2.0), _g(3, 0.99, 4.0, 1.5),
                                    _g(5, 1.0, 3.5, 3.0)], n=500, fd_spread=0.2)
    assert v.status == SUPPORTED and "trade-off" in v.text and "more than twice" in v.text
    assert v.numbers == {"acc_up": True, "div_down": True, "best_fd_guidance": 3, "fd_tied": []}
    close = guidance_gives_flexibility([_g(1, 0.98, 10.3, 6.57), _g(1.5, 1.0, 8.6, 6.28), _g(2, 1.0, 8.0, 7.72),
                                        _g(5, 1.0, 7.4, 13.9)], n=500, fd_spread=1.08)    # 04's sweep
    assert close.numbers["fd_tied"] == [1, 2] and "cannot be told" in close.text and "w = 1, 2 are within" in close.text
    assert "between w = 1 and w = 5: accuracy 98.0% (96.4%–98.9%) against 100.0% (99.2%–100.0%" in close.text
    # the same diversities against a draw-to-draw spread of 1.5: 10.3 -> 7.4 is inside twice it
    noisy = guidance_gives_flexibility([_g(1, 0.98, 10.3, 6.57), _g(1.5, 1.0, 8.6, 6.28), _g(2, 1.0, 8.0, 7.72),
                                        _g(5, 1.0, 7.4, 13.9)], n=500, fd_spread=1.08, div_spread=1.5)
    assert not noisy.numbers["div_down"] and "± 3.00" in noisy.text and "more alike cannot be told" in noisy.text
    assert guidance_gives_flexibility([_g(1, 0.98, 10.3, 6.57), _g(5, 1.0, 7.4, 13.9)], n=500, fd_spread=1.08,
                                      div_spread=1.0).numbers["div_down"]


def test_guidance_within_the_noise_cannot_tell_and_a_drop_is_not_supported():
    flat = guidance_gives_flexibility([_g(0, 0.1, 6.0, 9.0), _g(1, 0.95, 5.0, 2.0), _g(3, 0.96, 4.9, 2.1)],
                                      n=100, fd_spread=0.2)
    assert flat.status == CANNOT_TELL and "but within twice" in flat.text and "move away" not in flat.text
    drop = guidance_gives_flexibility([_g(1, 0.95, 5.0, 2.0), _g(3, 0.6, 5.5, 4.0)], n=500, fd_spread=0.2)
    assert drop.status == NOT_SUPPORTED and drop.numbers["best_fd_guidance"] == 1


# the parameter rule notebook 04 added to helpers.notebook.check_params -----------------------------

def test_check_params_accepts_a_list_of_choices():
    from helpers.notebook import check_params
    rule = [["ddpm", "ddim", "dpm++"]]
    check_params({"sweep_samplers": ["ddim", "dpm++"]}, sweep_samplers=rule)
    for bad in (["ddim", "euler"], [], "ddim"):
        with pytest.raises(ValueError, match="sweep_samplers"):
            check_params({"sweep_samplers": bad}, sweep_samplers=rule)


def test_judge_on_pure_noise():
    from helpers.verdicts import judge_on_pure_noise
    names = [str(d) for d in range(10)]
    ok = judge_on_pure_noise([0] * 8 + [2, 0, 198], names)
    assert ok.status == SUPPORTED and ok.numbers["abstained"] == 0.99
    old = judge_on_pure_noise([0] * 8 + [200, 0], names)               # the 10-class judge read noise as 8
    assert old.status == NOT_SUPPORTED and old.numbers["top"] == 8 and "default answer" in old.text
    assert judge_on_pure_noise([1] + [0] * 9 + [18], names).status == CANNOT_TELL   # 18 of 19: too few to say
    smooth = judge_on_pure_noise([0, 0, 0, 100] + [0] * 7, names, what="linear-denoiser estimates")
    assert smooth.status == NOT_SUPPORTED and smooth.text.startswith("on 100 linear-denoiser estimates")
    assert "the early accuracy of 3 is the judge's default answer" in smooth.text
    silent = judge_on_pure_noise([0] * 10 + [100], names)               # no digit named at all: no "likeliest"
    assert silent.status == SUPPORTED and silent.numbers["top"] is None and "it names no digit" in silent.text


# distillation at equal calls ---------------------------------------------------------------------

def _calls_row(steps, acc, kid, n=200):
    return {"steps": steps, "accuracy": acc, "kid": kid, "n": n}


def test_a_distilled_model_sharper_at_every_equal_cost_is_supported():
    pairs = [(2, _calls_row(2, 0.99, 0.004), _calls_row(1, 0.98, 0.060)),
             (4, _calls_row(4, 1.00, 0.002), _calls_row(2, 1.00, 0.030))]
    v = distillation_pays(pairs, kid_noise=0.006)
    assert v.status == SUPPORTED and v.numbers["wins"] == {2: 1, 4: 1}
    assert "**4 calls**: distilled (4 steps) 100.0%, KID 0.0020" in v.text and "solver (2 steps)" in v.text
    assert "the solver (1 step) 98.0%" in v.text                                   # singular where it is one


def test_a_distilled_model_worse_or_no_better_is_not_supported():
    worse = [(4, _calls_row(4, 0.90, 0.002), _calls_row(2, 1.00, 0.003))]        # 180/200 against 200/200
    assert distillation_pays(worse, 0.006).numbers["wins"] == {4: -1}
    assert distillation_pays(worse, 0.006).status == NOT_SUPPORTED
    tie = [(4, _calls_row(4, 0.99, 0.010), _calls_row(2, 0.99, 0.012))]
    assert distillation_pays(tie, 0.006).status == NOT_SUPPORTED and "within the noise" in distillation_pays(tie, 0.006).text


def test_one_pair_won_and_one_within_the_noise_cannot_tell():
    pairs = [(2, _calls_row(2, 0.99, 0.004), _calls_row(1, 0.98, 0.060)),
             (4, _calls_row(4, 0.99, 0.010), _calls_row(2, 0.99, 0.012))]
    assert distillation_pays(pairs, 0.006).status == CANNOT_TELL
    assert distillation_pays([], 0.006).status == CANNOT_TELL


def test_a_long_chain_on_few_digits_is_named_as_unable_to_tell():
    rows = _sweep(1.0, ddpm_long=1.0, n_long=10)                       # notebook 04: 10 of 10, interval 72-100%
    v = generation_needs_many_steps(rows, ("ddpm", 1000))
    assert v.status == NOT_SUPPORTED and "95 % interval 72%–100%" in v.text
    assert "cannot show a difference of a few points" in v.text and "batches of 10 and 200 digits" in v.text
    assert "50× fewer network calls" in v.text
