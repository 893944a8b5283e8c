"""The verdicts of notebook 01 (forward diffusion): each on both sides of its threshold, and
within the noise where the measurement has one."""
import math

import pytest
import torch

from helpers.evaluate import mid_gray_fraction, paired_noise
from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, complete_noise_blocks_recovery,
                              cosine_spreads_destruction, gradual_recovers_closer, initial_image_lost,
                              noise_completes, noise_per_step_regular, one_call_suffices_at_low_noise,
                              reverse_is_sharper, steps_needed_to_generate, training_adds_noise_gradually,
                              Verdict)

N_PIXELS = 2000 * 784


# the end of the forward process ---------------------------------------------------------------

def test_noise_completes_on_pure_noise():
    v = noise_completes(999, 2.4e-9, -0.0007, 0.9997, 0.0016, N_PIXELS)
    assert v.status == SUPPORTED and "0.0016" in v.text and "pure noise" in v.text


def test_noise_completes_sees_a_trace_of_the_digit():
    v = noise_completes(999, 1e-4, 0.0, 1.0, 0.01, N_PIXELS)          # 0.01 >> 3 / sqrt(n) = 0.0024
    assert v.status == NOT_SUPPORTED and v.numbers["off"] == ["correlation"]
    assert noise_completes(999, 1e-4, 0.0, 1.05, 0.0, N_PIXELS).numbers["off"] == ["standard deviation"]


def test_noise_completes_within_the_noise_depends_on_n():
    # a correlation of 0.002 is noise among 1.6 M values (3 SE = 0.0024), a trace among 16 M
    assert noise_completes(999, 1e-6, 0.0, 1.0, 0.002, N_PIXELS).status == SUPPORTED
    assert noise_completes(999, 1e-6, 0.0, 1.0, 0.002, 10 * N_PIXELS).status == NOT_SUPPORTED


def test_noise_completes_cannot_tell_from_few_values():
    assert noise_completes(999, 1e-6, 0.0, 1.0, 0.0, 100).status == CANNOT_TELL   # 3 / sqrt(100) = 0.3


# the schedules ------------------------------------------------------------------------------

LINEAR, COSINE = {0.5: 259, 0.05: 542}, {0.5: 496, 0.05: 855}


def test_cosine_spreads_destruction():
    v = cosine_spreads_destruction(LINEAR, COSINE, 1000)
    assert v.status == SUPPORTED
    assert "t = 259 (26% of the way)" in v.text and "t = 855" in v.text
    assert v.numbers["left_linear"] == pytest.approx(0.458) and v.numbers["left_cosine"] == pytest.approx(0.145)


def test_cosine_spreads_destruction_not_when_earlier_or_partly():
    assert cosine_spreads_destruction(COSINE, LINEAR, 1000).status == NOT_SUPPORTED
    assert cosine_spreads_destruction(LINEAR, {0.5: 496, 0.05: 500}, 1000).status == PARTLY


def test_cosine_spreads_destruction_never_below_a_level_counts_as_late():
    v = cosine_spreads_destruction(LINEAR, {0.5: 496, 0.05: None}, 1000)
    assert v.status == SUPPORTED and "never" in v.text and v.numbers["left_cosine"] == 0


def test_noise_per_step_regular():
    assert noise_per_step_regular([1e-2, 1.5e-2, 1.9e-2]).status == SUPPORTED         # factor 1.9
    v = noise_per_step_regular(torch.tensor([4.1e-5, 0.01, 0.999]), "cosine")
    assert v.status == NOT_SUPPORTED and "cosine schedule's" in v.text and v.numbers["ratio"] > 20_000


# training: the jump against the chain -------------------------------------------------------

def test_training_adds_noise_gradually_not_supported_when_the_jump_matches():
    v = training_adds_noise_gradually([1.001, 1.0005, 1.0017], [1.0008, 1.0003, 0.9993], 256 * 784)
    assert v.status == NOT_SUPPORTED and "0.999–1.002" in v.text


def test_training_adds_noise_gradually_cannot_tell_when_they_disagree_or_noise_is_large():
    assert training_adds_noise_gradually([1.05], [1.0], 256 * 784).status == CANNOT_TELL
    assert training_adds_noise_gradually([1.0], [1.0], 100).status == CANNOT_TELL     # noise 0.21 > tol


# one call against the reverse process -------------------------------------------------------

def test_one_call_suffices_at_low_noise():
    assert one_call_suffices_at_low_noise(39, 0.0006, 0.0006, 0.0).status == SUPPORTED
    assert one_call_suffices_at_low_noise(39, 0.03, 0.03, 0.0).status == NOT_SUPPORTED     # above the level
    v = one_call_suffices_at_low_noise(39, 0.0006, 0.0006, 0.0, calls=1)                  # the same computation
    assert v.status == SUPPORTED and "coincide" in v.text and "± 0" not in v.text


def test_one_call_suffices_at_low_noise_within_and_beyond_the_noise():
    assert one_call_suffices_at_low_noise(39, 0.005, 0.004, 0.002).status == SUPPORTED     # worse within noise
    v = one_call_suffices_at_low_noise(39, 0.005, 0.004, 0.0005)                          # worse beyond it
    assert v.status == NOT_SUPPORTED and v.numbers["worse"]


TS = [39, 519, 999]


def test_reverse_is_sharper_at_the_blurriest_t():
    v = reverse_is_sharper(TS, [0.086, 0.12, 0.39], [0.086, 0.089, 0.091], 0.088, [0.0, 0.01, 0.02], [1, 13, 25])
    assert v.status == SUPPORTED and v.numbers["t"] == 999
    assert v.numbers["extra_grey"] == pytest.approx(0.299) and "25 small steps" in v.text


def test_reverse_is_sharper_other_side_and_within_noise():
    gray_rev = [0.086, 0.089, 0.45]
    assert reverse_is_sharper(TS, [0.086, 0.12, 0.39], gray_rev, 0.088, [0, 0.01, 0.02], [1, 13, 25]).status \
        == NOT_SUPPORTED
    assert reverse_is_sharper(TS, [0.086, 0.12, 0.39], [0.086, 0.1, 0.37], 0.088, [0, 0.01, 0.05],
                              [1, 13, 25]).status == CANNOT_TELL


def test_gradual_recovers_closer():
    noise = [0.0, 0.001, 0.01]
    v = gradual_recovers_closer(TS, [0.0006, 0.033, 0.28], [0.0006, 0.039, 0.54], noise)
    assert v.status == NOT_SUPPORTED and v.numbers["farther"] == [519, 999] and v.numbers["tied"] == [39]
    assert "MSE-optimal" in v.text and "*larger* error at t = 519, 999" in v.text
    assert gradual_recovers_closer(TS, [0.0006, 0.039, 0.54], [0.0006, 0.033, 0.28], noise).status == SUPPORTED
    assert gradual_recovers_closer(TS, [0.0006, 0.039, 0.28], [0.0006, 0.033, 0.54], noise).status == PARTLY


def test_gradual_recovers_closer_within_noise():
    v = gradual_recovers_closer(TS, [0.001, 0.033, 0.28], [0.001, 0.034, 0.29], [0.0, 0.005, 0.05])
    assert v.status == CANNOT_TELL and v.numbers["tied"] == TS


def test_initial_image_lost():
    acc_one, acc_rev = [1.0, 0.97, 0.047], [1.0, 0.97, 0.156]                  # 3/64 and 10/64
    v = initial_image_lost(TS, acc_one, acc_rev, 64)
    assert v.status == SUPPORTED and "t = 999" in v.text and "no t up to" not in v.text
    assert "16%" in v.text


def test_initial_image_lost_not_when_identity_survives():
    assert initial_image_lost(TS, [1, 1, 0.5], [1, 1, 0.6], 64).status == NOT_SUPPORTED
    v = initial_image_lost(TS, [1, 1, 0.05], [1, 1, 0.375], 64)                 # 24/64: above chance
    assert v.status == PARTLY and v.numbers["kept"] == ["the reverse process"]


def test_initial_image_lost_within_the_noise_of_few_digits():
    # 3 of 16 digits (19%) is within the noise of chance on 16 digits, above it on 640
    assert initial_image_lost(TS, [1, 1, 0.1875], [1, 1, 0.1], 16).status == SUPPORTED
    assert initial_image_lost(TS, [1, 1, 0.1875], [1, 1, 0.1], 640).status == PARTLY


def test_initial_image_lost_without_a_classifier():
    assert initial_image_lost(TS, [None] * 3, [None] * 3, 64).status == CANNOT_TELL


def test_steps_needed_to_generate():
    v = steps_needed_to_generate(999, 0.047, 0.92, 0.325, 0.092, 0.088, 64)
    assert v.status == SUPPORTED and "92%" in v.text and "32.5%" in v.text
    assert steps_needed_to_generate(999, 0.92, 0.047, 0.09, 0.3, 0.088, 64).status == NOT_SUPPORTED


def test_steps_needed_to_generate_within_noise_and_without_classifier():
    assert steps_needed_to_generate(999, 0.5, 0.6, 0.3, 0.09, 0.088, 16).status == CANNOT_TELL
    assert steps_needed_to_generate(999, 0.5, 0.6, 0.3, 0.09, 0.088, 1000).status == SUPPORTED
    assert steps_needed_to_generate(999, None, None, 0.3, 0.09, 0.088, 64).status == CANNOT_TELL


def test_complete_noise_blocks_recovery_combines_its_parts():
    s, n = Verdict(SUPPORTED, ""), Verdict(NOT_SUPPORTED, "")
    v = complete_noise_blocks_recovery(s, n, s)
    assert v.status == PARTLY and "sharp, plausible digit" in v.text
    assert v.numbers["sharper"] == SUPPORTED
    assert complete_noise_blocks_recovery(s, s, s).status == SUPPORTED
    assert complete_noise_blocks_recovery(n, n, n).status == NOT_SUPPORTED
    assert complete_noise_blocks_recovery(Verdict(CANNOT_TELL, ""), Verdict(CANNOT_TELL, ""), s).status == CANNOT_TELL


# the library pieces the verdicts read ---------------------------------------------------------

def test_paired_noise_and_per_image_grey():
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0.5, 1.5, 2.5, 3.0])
    d = a - b                                                                   # 0.5, 0.5, 0.5, 1.0
    assert paired_noise(a, b) == pytest.approx(2 * d.double().std().item() / 2)
    assert paired_noise([1.0], [0.0]) == math.inf
    x = torch.tensor([0.0, 0.5, 1.0, 0.5]).view(2, 1, 1, 2)
    assert mid_gray_fraction(x, per_image=True).tolist() == [0.5, 0.5]
    assert mid_gray_fraction(x) == pytest.approx(0.5)


def test_guidance_explains_one_step():
    from helpers.verdicts import guidance_explains_one_step
    yes = guidance_explains_one_step(999, (0.05, 0.92), (0.6, 0.98), 1.5, 64)
    assert yes.status == SUPPORTED and "lifts a single call" in yes.text and yes.numbers["gain"] > 0.5
    assert guidance_explains_one_step(999, (0.05, 0.92), (0.08, 0.95), 1.5, 64).status == NOT_SUPPORTED
    top = guidance_explains_one_step(999, (1.0, 0.94), (1.0, 1.0), 1.5, 64)         # nothing left to explain
    assert top.status == CANNOT_TELL and top.numbers["ceiling"] and "agree" in top.text
    assert guidance_explains_one_step(999, (None, None), (None, None), 1.5, 64).status == CANNOT_TELL
