"""Notebook 06's verdicts (helpers.verdicts, section "applications"): each on both sides of its
threshold, and inside the noise."""
import math

import pytest
import torch

from helpers import verdicts as V


# interpolation ---------------------------------------------------------------------------------

def walk(line_mid_ink, spread=0.0, paths=4, k=5):
    """norm, ink, confidence {"slerp", "straight line"}: (paths, k); ink 0.2 at the ends, the
    line's middle `line_mid_ink` (± spread across paths), slerp's middle 0.2."""
    ink = {n: torch.full((paths, k), 0.2) for n in ("slerp", "straight line")}
    ink["straight line"][:, k // 2] = line_mid_ink + spread * torch.linspace(-1, 1, paths)
    norm = {"slerp": torch.ones(paths, k), "straight line": torch.full((paths, k), 0.71)}
    conf = {n: torch.full((paths, k), 0.9) for n in ink}
    return norm, ink, conf


def test_straight_line_fades_on_both_sides_and_in_the_noise():
    faded = V.straight_line_fades(*walk(0.12), digit=2)                  # 0.6 of the ends' ink
    assert faded.status == V.SUPPORTED and "faint" in faded.text
    assert faded.numbers["lerp_mid_ink_ratio"] == pytest.approx(0.6)
    assert faded.numbers["lerp_mid_norm"] == pytest.approx(0.71) and faded.numbers["slerp_mid_norm"] == 1
    kept = V.straight_line_fades(*walk(0.196), digit=2)                  # 0.98
    assert kept.status == V.NOT_SUPPORTED and "little visible difference" in kept.text
    noisy = V.straight_line_fades(*walk(0.17, spread=0.1), digit=2)     # 0.85 ± a lot
    assert noisy.status == V.CANNOT_TELL
    one_path = V.straight_line_fades(*walk(0.12, paths=1), digit=2)     # no spread to judge by
    assert one_path.status == V.CANNOT_TELL
    assert set(faded.numbers) == {"lerp_mid_norm", "slerp_mid_norm", "lerp_mid_ink_ratio", "slerp_mid_ink_ratio",
                                  "lerp_mid_confidence", "slerp_mid_confidence"}


def test_hybrids_switch():
    pairs = [(3, 8), (1, 7)]
    morph = V.hybrids_switch([0.52, 0.47], [0.9, 0.95], pairs)
    assert morph.status == V.SUPPORTED and "morph" in morph.text and "centred" in morph.text
    assert morph.numbers == {"hybrid_switch_w": [0.52, 0.47], "hybrid_mid_ab_probability": [0.9, 0.95],
                             "hybrid_mid_ab_noise": [0.0, 0.0], "hybrid_switch_band": [[0.52, 0.52], [0.47, 0.47]]}
    third = V.hybrids_switch([0.52, 0.47], [0.4, 0.95], pairs)          # 3 -> 8 read as neither halfway
    assert third.status == V.PARTLY and "60% of it goes to other digits (the mixture is read as neither)" in third.text
    lopsided = V.hybrids_switch([0.8, 0.75], [0.5, 0.6], pairs)        # neither part holds
    assert lopsided.status == V.NOT_SUPPORTED and "not centred" in lopsided.text
    never = V.hybrids_switch([float("nan"), float("nan")], [0.9, 0.9], pairs)
    assert never.status == V.CANNOT_TELL and "never (3 -> 8)" in never.text and "cannot be told" in never.text


def test_hybrids_switch_judges_the_centre_with_the_noise_band():
    pairs = [(3, 8), (1, 7)]
    inside = V.hybrids_switch([0.52, 0.47], [0.9, 0.95], pairs, bands=[(0.45, 0.6), (0.4, 0.55)])
    assert inside.status == V.SUPPORTED and "0.52 (3 -> 8, noise band 0.45–0.60)" in inside.text
    straddles = V.hybrids_switch([0.52, 0.47], [0.9, 0.95], pairs, bands=[(0.3, 0.6), (0.4, 0.55)])
    assert straddles.status == V.CANNOT_TELL and "cannot be told" in straddles.text and "3 -> 8 reaches beyond" in straddles.text
    # 0.80 with its band wholly above 0.65 (the latest crossing never reached: inf) is off centre
    off = V.hybrids_switch([0.8, 0.47], [0.9, 0.95], pairs, bands=[(0.7, float("nan")), (0.4, 0.55)])
    assert off.status == V.PARTLY and "not centred" in off.text and "0.70–never" in off.text
    assert off.numbers["hybrid_switch_band"] == [[0.7, None], [0.4, 0.55]]


def test_hybrids_switch_reads_the_pair_share_with_its_noise():
    pairs, centred = [(3, 8), (1, 7)], dict(bands=[(0.45, 0.6), (0.4, 0.55)])
    near_line = V.hybrids_switch([0.52, 0.47], [0.803, 0.95], pairs, mid_noise=[0.05, 0.02], **centred)
    assert near_line.status == V.CANNOT_TELL and "cannot be told for 3 -> 8" in near_line.text
    assert "noise ± 0.02 to ± 0.05" in near_line.text and near_line.numbers["hybrid_mid_ab_noise"] == [0.05, 0.02]
    clear = V.hybrids_switch([0.52, 0.47], [0.9, 0.95], pairs, mid_noise=[0.05, 0.02], **centred)
    assert clear.status == V.SUPPORTED and "above 0.8 for every pair" in clear.text
    below = V.hybrids_switch([0.52, 0.47], [0.6, 0.95], pairs, mid_noise=[0.05, 0.02], **centred)
    assert below.status == V.PARTLY and "40% of it goes to other digits" in below.text
    both_unsure = V.hybrids_switch([0.52, 0.47], [0.803, 0.95], pairs, mid_noise=[0.05, 0.02],
                                   bands=[(0.3, 0.6), (0.4, 0.55)])
    assert both_unsure.status == V.CANNOT_TELL


def test_guidance_thickens():
    base = torch.linspace(0.1, 0.2, 30)
    heavier = V.guidance_thickens([0.0, 4.0], [0.1, 0.95], torch.stack([base, base + 0.03]))
    assert heavier.status == V.SUPPORTED and "heavier" in heavier.text and "95%" in heavier.text
    lighter = V.guidance_thickens([0.0, 4.0], [0.1, 0.95], torch.stack([base, base - 0.03]))
    assert lighter.status == V.NOT_SUPPORTED and "lighter" in lighter.text
    jitter = 0.03 * torch.tensor([1.0, -1.0]).repeat(15)                # mean change 0, spread 0.03
    same = V.guidance_thickens([0.0, 4.0], [0.1, 0.95], torch.stack([base, base + jitter + 0.001]))
    assert same.status == V.CANNOT_TELL and "within the noise" in same.text
    # from w = 1, not w = 0: at w = 0 the label is ignored, so a change from there is not guidance alone
    from_one = V.guidance_thickens([0.0, 1.0, 4.0], [0.1, 0.9, 0.95], torch.stack([base - 0.05, base, base + jitter + 0.001]))
    assert from_one.status == V.CANNOT_TELL and from_one.numbers["from_guidance"] == 1.0
    assert "comparison starts there: from w = 1 to w = 4" in from_one.text


# data augmentation ------------------------------------------------------------------------------

def gains(*rows, seeds=3):
    return [{"n": n, "gain": g, "spread": s, "seeds": seeds, "real": (0.9, 0.01), "mixed": (0.9, 0.01)}
            for n, g, s in rows]


def test_augmentation_effect_is_read_against_a_student_t_interval():
    assert V.augmentation_effect(0.02, 0.01, 4) == ("helps", pytest.approx(0.0159))   # 3.18 * 0.01 / 2
    assert V.augmentation_effect(0.015, 0.01, 4)[0] == "no measurable effect"
    assert V.augmentation_effect(0.0045, 0.002, 3)[0] == "no measurable effect"         # 2 SE would say helps
    assert V.augmentation_effect(0.02, 0.01, 100)[1] == pytest.approx(0.002)            # many seeds: 2 SE
    assert V.augmentation_effect(-0.02, 0.01, 4)[0] == "hurts"
    assert V.augmentation_effect(0.5, 0.0, 1)[0] == "cannot tell"           # one seed: no spread


def test_generated_digits_help():
    vanishing = V.generated_digits_help(gains((5, 0.12, 0.03), (30, 0.002, 0.003), (300, -0.001, 0.004)), 0.96)
    assert vanishing.status == V.SUPPORTED and vanishing.numbers["vanishes_at"] == 30
    assert "**helps**" in vanishing.text and "vanishes from 30" in vanishing.text and "96.0%" in vanishing.text
    lasting = V.generated_digits_help(gains((5, 0.12, 0.03), (300, 0.05, 0.01)), 0.96)
    assert lasting.status == V.SUPPORTED and lasting.numbers["vanishes_at"] is None and "still help" in lasting.text
    late = V.generated_digits_help(gains((5, 0.001, 0.03), (300, 0.05, 0.01)), 0.96)
    assert late.status == V.PARTLY
    hurting = V.generated_digits_help(gains((5, -0.1, 0.01), (300, 0.0, 0.01)), 0.5)
    assert hurting.status == V.NOT_SUPPORTED and "**hurts**" in hurting.text and "helped at no size" in hurting.text
    noisy = V.generated_digits_help(gains((5, 0.02, 0.05), (300, -0.01, 0.05)), 0.9)
    assert noisy.status == V.CANNOT_TELL and noisy.numbers["vanishes_at"] is None and "more seeds" in noisy.text
    one_seed = V.generated_digits_help(gains((5, 0.2, 0.0), seeds=1), 0.9)
    assert one_seed.status == V.CANNOT_TELL


# inpainting -------------------------------------------------------------------------------------

def scores(acc, mse, n=100, spread=0.01, known=0.0):
    each = mse + spread * torch.linspace(-1, 1, n)
    return {"accuracy": acc, "hidden_mse": each.mean().item(), "hidden_mse_each": each, "known_error": known}


def test_repaint_beats_mean_fill():
    results = {"half": {"mean fill": scores(0.23, 0.07), "RePaint": scores(0.71, 0.09)},
               "random": {"mean fill": scores(0.07, 0.07), "RePaint": scores(0.91, 0.03)}}
    v = V.repaint_beats_mean_fill(results, 100)
    assert v.status == V.SUPPORTED
    assert "for 2 of 2 masks (half, random; " in v.text and "half +48 ± 12" in v.text and "for 1 of 2 (random)" in v.text
    assert "For half the two scores disagree" in v.text and "hardest mask for RePaint is **half**" in v.text
    assert "The visible pixels are kept" in v.text
    assert v.numbers["inpaint_random_accuracy"] == 0.91 and v.numbers["inpaint_half_meanfill_accuracy"] == 0.23
    assert v.numbers["inpaint_half_hidden_mse"] == pytest.approx(0.09) and v.numbers["inpaint_known_max_error"] == 0
    assert len(v.numbers) == 2 * 4 + 1
    worse = V.repaint_beats_mean_fill({"box": {"mean fill": scores(0.5, 0.1), "RePaint": scores(0.2, 0.2, known=0.1)}},
                                      100)
    assert worse.status == V.NOT_SUPPORTED and "NOT kept" in worse.text
    close = V.repaint_beats_mean_fill({"box": {"mean fill": scores(0.5, 0.1), "RePaint": scores(0.55, 0.1)}}, 100)
    assert close.status == V.CANNOT_TELL                                # 5 points on 100 digits: noise ~ 14


def test_resampling_helps():
    helps = V.resampling_helps({"accuracy": 0.6, "hidden_mse": 0.1}, {"accuracy": 0.8, "hidden_mse": 0.09}, 400, 4)
    assert helps.status == V.SUPPORTED and "Resampling helps" in helps.text
    hurts = V.resampling_helps({"accuracy": 0.8, "hidden_mse": 0.1}, {"accuracy": 0.6, "hidden_mse": 0.09}, 400, 4)
    assert hurts.status == V.NOT_SUPPORTED
    tiny = V.resampling_helps({"accuracy": 0.63, "hidden_mse": 0.1}, {"accuracy": 0.71, "hidden_mse": 0.09}, 12, 2)
    assert tiny.status == V.CANNOT_TELL and "within the noise" in tiny.text


# restoration ------------------------------------------------------------------------------------

def curve(acc, psnr):
    return {"t": [None, 99, 249, 399, 699], "psnr": [16.8] + psnr, "accuracy": [0.09] + acc}


def test_sdedit_restores():
    v = V.sdedit_restores(curve([0.3, 0.8, 0.91, 0.5], [16.9, 17.0, 17.1, 15.0]), (16.8, 0.08), 236, 200)
    assert v.status == V.SUPPORTED
    assert v.numbers["restore_t_best_accuracy"] == 399 and v.numbers["restore_accuracy_gain"] == pytest.approx(0.82)
    assert v.numbers["restore_t_best"] == 399 and v.numbers["restore_psnr_gain"] == pytest.approx(0.3)
    assert v.numbers["restore_accuracy_largest_t"] == 0.5 and len(v.numbers) == 14
    assert v.numbers["restore_psnr_gain_noise"] == 0.0                  # no per-image PSNR given: no noise
    assert "invents a new one" in v.text and "PSNR hardly moves" in v.text
    flat = V.sdedit_restores(curve([0.1, 0.12, 0.11, 0.1], [20, 21, 22, 23]), (16.8, 0.08), 236, 200)
    assert flat.status == V.CANNOT_TELL and "invents" not in flat.text and "by +3.0 points (± 6.1) and the PSNR by +4.20 dB" in flat.text
    worse = V.sdedit_restores({"t": [None, 99], "psnr": [16.8, 12.0], "accuracy": [0.9, 0.3]}, (16.8, 0.8), 236, 200)
    assert worse.status == V.NOT_SUPPORTED
    readable = V.sdedit_restores({"t": [None, 99, 249], "psnr": [16.8, 16.9, 17.0], "accuracy": [0.98, 0.99, 1.0]},
                                 (16.8, 0.9), 236, 200)
    assert readable.status == V.CANNOT_TELL and readable.numbers["restore_input_readable"]
    assert "never unrecognisable" in readable.text and "PSNR hardly moves" not in readable.text



def test_sdedit_quotes_the_psnr_change_with_its_paired_noise():
    base = torch.linspace(10, 12, 100)
    c = curve([0.3, 0.8], [11.5, 11.0])
    c["t"] = c["t"][:3]
    c["psnr_each"] = [base, base + 0.5 + 0.2 * torch.linspace(-1, 1, 100), base]
    c["psnr"] = [p.mean().item() for p in c["psnr_each"]]                # as restoration_curve gives them
    v = V.sdedit_restores(c, (11, 0.08), 236, 100)
    sd = (0.2 * torch.linspace(-1, 1, 100)).std().item()
    assert v.numbers["restore_psnr_gain_noise"] == pytest.approx(2 * sd / 10, rel=1e-4)
    assert f"+0.50 ± {2 * sd / 10:.2f} dB over the noisy input" in v.text and "best of 2 starting points" in v.text


# text to digit ----------------------------------------------------------------------------------

TESTS = [("a 4", 4, "an article"), ("three sevens", 7, "counts"), ("not a 3", None, "negation")]


def test_clip_reads_prompts():
    v = V.clip_reads_prompts((1.0, 100), (1.0, 280), TESTS, [4, 3, 3], [[], ["sevens"], ["not"]])
    assert v.status == V.PARTLY                                         # one-digit prompts yes, counts no
    assert "counts (`three sevens` -> 3; unknown: `sevens`)" in v.text and "negation (`not a 3` -> 3" in v.text
    assert v.numbers == {"text_heldout_read_accuracy": 1.0, "text_train_read_accuracy": 1.0,
                         "text_tricky_correct": 1, "text_tricky_total": 2, "text_tricky_vocabulary_gaps": 0}
    all_right = V.clip_reads_prompts((0.98, 100), (1.0, 280), TESTS[:2], [4, 7], [[], []])
    assert all_right.status == V.SUPPORTED and "cannot understand" not in all_right.text
    poor = V.clip_reads_prompts((0.5, 100), (0.9, 280), TESTS[:2], [4, 7], [[], []])
    assert poor.status == V.NOT_SUPPORTED and "single digit" not in poor.text
    few = V.clip_reads_prompts((0.9, 20), (1.0, 280), TESTS[:2], [4, 7], [[], []])   # 90% of 20: ± 12 points
    assert few.status == V.CANNOT_TELL


def test_clip_reads_prompts_tells_a_vocabulary_gap_from_a_missing_skill():
    tests = TESTS + [("fuor", 4, "misspellings"), ("vier", 4, "other languages")]
    v = V.clip_reads_prompts((1.0, 100), (1.0, 280), tests, [4, 3, 3, 8, 8], [[], ["sevens"], ["not"], ["fuor"],
                             ["vier"]], default=("qwzx", 8))
    assert "`fuor`, `vier` get the digit CLIP gives a word it does not know at all (`qwzx` -> 8)" in v.text
    assert "not whether it could handle misspellings, other languages" in v.text
    assert "counts (`three sevens` -> 3" in v.text and v.numbers["text_tricky_vocabulary_gaps"] == 2
    assert "95 % interval 96%–100%" in v.text


def test_every_verdict_renders_as_markdown():
    v = V.straight_line_fades(*walk(0.12), digit=2)
    assert v._repr_markdown_().startswith("**Supported:** halfway")
    assert not math.isnan(v.numbers["lerp_mid_confidence"])


def test_repaint_must_also_beat_no_fill():
    results = {"half": {"no fill": scores(0.82, 0.2), "mean fill": scores(0.57, 0.07), "RePaint": scores(0.74, 0.09)},
               "random": {"no fill": scores(0.10, 0.3), "mean fill": scores(0.07, 0.07), "RePaint": scores(0.91, 0.03)}}
    v = V.repaint_beats_mean_fill(results, 100)                         # notebook 06: no fill read 82%, RePaint 74%
    assert v.status == V.PARTLY and "Against no fill" in v.text and "for 1 of 2 (random)" in v.text
    assert "half: 82% against 74%" in v.text and "no gain over doing nothing" in v.text
    assert v.numbers["inpaint_half_nofill_accuracy"] == 0.82
