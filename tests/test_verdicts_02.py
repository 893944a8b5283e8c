"""The verdicts of notebook 02 (the U-Net): each claim on both sides of its threshold, and within the noise."""
import pytest
import torch

from helpers import verdicts as v
from helpers.evaluate import paired_noise


# the time embedding ---------------------------------------------------------------------------

def test_close_timesteps_alike():
    gaps = [1, 10, 100, 500, 900]
    ok = v.close_timesteps_alike(gaps, [0.96, 0.63, 0.58, 0.13, -0.11], dim=32)
    assert ok.status == v.SUPPORTED and "0.96" in ok.text and "-0.11" in ok.text and "32 numbers" in ok.text
    assert v.close_timesteps_alike(gaps, [0.80, 0.6, 0.5, 0.1, -0.11], dim=32).status == v.PARTLY      # near not alike
    assert v.close_timesteps_alike(gaps, [0.96, 0.9, 0.8, 0.7, 0.6], dim=32).status == v.PARTLY        # far still related
    assert v.close_timesteps_alike(gaps, [0.5, 0.5, 0.5, 0.5, 0.5], dim=32).status == v.NOT_SUPPORTED


# the class embedding --------------------------------------------------------------------------

def test_label_vectors_distinct():
    ok = v.label_vectors_distinct([-0.15, 0.16, 0.01], 0.75)
    assert ok.status == v.SUPPORTED and "-0.15" in ok.text and "0.75" in ok.text
    assert v.label_vectors_distinct([-0.15, 0.6], 0.75).status == v.PARTLY          # two digits share a vector
    assert v.label_vectors_distinct([-0.15, 0.16], 0.1).status == v.PARTLY          # drowned out by t
    assert v.label_vectors_distinct([0.2, 0.9], 0.1).status == v.NOT_SUPPORTED


# the skip experiment --------------------------------------------------------------------------

TS = [0, 300, 999]


def test_skips_keep_detail_supported_at_every_t():
    r = v.skips_keep_detail(TS, [0.6, 0.06, 0.005], [0.8, 0.13, 0.043], 0.056, 0.11, 0.004,
                            recon=(0.018, 0.030), recon_t=300)
    assert r.status == v.SUPPORTED
    assert r.numbers["widest_t"] == 999 and r.numbers["narrowest_t"] == 0
    assert "0.0560 with skips and 0.1100 without" in r.text and "± 0.0040" in r.text
    assert "x_t ≈ eps" in r.text and "stays in its estimate" in r.text          # gap widest at high t; worse recon
    assert "as a ratio is largest at t = 999" in r.text and "in absolute terms it is largest at t = 0 (+0.200)" in r.text


def test_skips_keep_detail_partly_cannot_tell_not_supported():
    partly = v.skips_keep_detail(TS, [0.6, 0.06, 0.005], [0.5, 0.13, 0.043], 0.056, 0.11, 0.004)
    assert partly.status == v.PARTLY and partly.numbers["narrowest_t"] == 0      # lower at t = 0 without skips
    within = v.skips_keep_detail(TS, [0.6, 0.06, 0.005], [0.8, 0.13, 0.043], 0.056, 0.058, 0.004)
    assert within.status == v.CANNOT_TELL and "within the noise" in within.text
    worse = v.skips_keep_detail(TS, [0.8, 0.13, 0.043], [0.6, 0.06, 0.005], 0.11, 0.056, 0.004,
                                recon=(0.030, 0.018), recon_t=300)
    assert worse.status == v.NOT_SUPPORTED and "no worse without skips" in worse.text
    tied_t0 = v.skips_keep_detail(TS, [1.018, 0.16, 0.06], [1.017, 0.88, 0.85], 0.157, 0.87, 0.016,
                                  loss_noise=[0.01, 0.02, 0.02])
    assert tied_t0.status == v.SUPPORTED and "within the noise at t = 0" in tied_t0.text   # lower at t = 0, in noise
    assert "2 of the 3 t" in tied_t0.text and "every t we measured" not in tied_t0.text
    lower_t0 = v.skips_keep_detail(TS, [1.018, 0.16, 0.06], [0.9, 0.88, 0.85], 0.157, 0.87, 0.016,
                                   loss_noise=[0.01, 0.02, 0.02])
    assert lower_t0.status == v.PARTLY                                           # lower at t = 0 beyond the noise
    low_t = v.skips_keep_detail(TS, [0.3, 0.06, 0.04], [0.9, 0.07, 0.041], 0.056, 0.11, 0.004)
    assert low_t.numbers["widest_t"] == 0 and "x_t ≈ eps" not in low_t.text    # no high-t explanation


# the label ------------------------------------------------------------------------------------

def test_label_steers():
    ts, spread = [119, 919], [0.0015, 0.17]
    ok = v.label_steers(ts, spread, [0.10, 0.92], 0.07, steps=25)
    assert ok.status == v.SUPPORTED and "+82 points ± 7" in ok.text and "25-step" in ok.text
    assert v.label_steers(ts, spread, [0.10, 0.20], 0.07).status == v.PARTLY            # gain 10 < 20 - 7
    assert v.label_steers(ts, spread, [0.10, 0.32], 0.07).status == v.CANNOT_TELL       # gain 22: within 20 ± 7
    assert v.label_steers(ts, [0.10, 0.15], [0.10, 0.92], 0.07).status == v.PARTLY      # spread grows 1.5x only
    assert v.label_steers(ts, [0.10, 0.15], [0.10, 0.12], 0.07).status == v.NOT_SUPPORTED


def test_label_steers_without_classifier():
    ok = v.label_steers([119, 919], [0.0015, 0.17])
    assert ok.status == v.SUPPORTED and "No classifier" in ok.text and ok.numbers["follow"] is None
    assert v.label_steers([119, 919], [0.10, 0.15]).status == v.NOT_SUPPORTED


# the timestep ---------------------------------------------------------------------------------

def test_t_embedding_used():
    ts = [0, 250, 500, 750, 999]
    ok = v.t_embedding_used(ts, [1.05, 0.2, 0.03, 0.2, 0.53], 500)
    assert ok.status == v.SUPPORTED and ok.numbers["best_t"] == 500 and ok.numbers["offset"] == 0
    assert v.t_embedding_used(ts, [1.05, 0.2, 0.05, 0.03, 0.53], 500).status == v.NOT_SUPPORTED   # best 250 away
    near = v.t_embedding_used([0, 450, 550, 999], [1.0, 0.05, 0.04, 0.5], 500)
    assert near.status == v.SUPPORTED and near.numbers["offset"] == 50
    flat = v.t_embedding_used(ts, [0.30, 0.29, 0.28, 0.29, 0.30], 500)
    assert flat.status == v.NOT_SUPPORTED and "ignores t" in flat.text


# the summary ----------------------------------------------------------------------------------

def test_unet_claims_summary():
    time_v = v.close_timesteps_alike([1, 900], [0.96, -0.11], dim=32)
    class_v = v.label_vectors_distinct([-0.15, 0.16], 0.75)
    skips_v = v.skips_keep_detail(TS, [0.6, 0.06, 0.005], [0.8, 0.13, 0.043], 0.056, 0.11, 0.004)
    label_v = v.label_steers([119, 919], [0.0015, 0.17], [0.10, 0.92], 0.07, steps=25)
    t_v = v.t_embedding_used([0, 500, 999], [1.05, 0.03, 0.53], 500)
    s = v.unet_claims_summary(time_v, class_v, skips_v, label_v, t_v)
    assert s.status == v.SUPPORTED and "92% of cases" in s.text and "told t = 500" in s.text
    assert s._repr_markdown_().startswith("**Supported:**")
    weak = v.skips_keep_detail(TS, [0.6, 0.06, 0.005], [0.8, 0.13, 0.043], 0.056, 0.058, 0.004)
    assert v.unet_claims_summary(time_v, class_v, weak, label_v, t_v).status == v.PARTLY
    no_clf = v.label_steers([119, 919], [0.0015, 0.17])
    assert "varies" in v.unet_claims_summary(time_v, class_v, skips_v, no_clf, t_v).text


# the noise of a paired difference (the skip experiment) --------------------------------------

def test_paired_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(400, generator=g)
    assert paired_noise(a + 0.1, a) == pytest.approx(0.0, abs=1e-6)     # a constant shift has no noise
    d = torch.randn(400, generator=g)
    assert paired_noise(a + d, a) == pytest.approx(2 * d.double().std().item() / 20, rel=1e-6)
