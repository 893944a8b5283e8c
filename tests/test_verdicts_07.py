"""The verdicts of notebook 07 (the report's three improvements), each on both sides of its threshold."""
from helpers.verdicts import (CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, attention_verdict, colour_path_verdict,
                              guidance_expressive_verdict, guidance_window_kind, guidance_window_verdict,
                              resolution_verdict)


def row(w, acc, fd, nfe, interval=None, diversity=5.0):
    return {"guidance": w, "accuracy": acc, "fd": fd, "nfe": nfe, "guidance_interval": interval, "diversity": diversity}


PLAIN = [row(1.0, 0.95, 6.0, 20), row(2.0, 0.99, 4.0, 40), row(3.0, 1.0, 5.0, 40)]


def test_window_kinds_cover_each_case():
    n, fd_noise = 1000, 0.1
    assert guidance_window_kind(row(3.0, 1.0, 3.0, 30, (0, 800)), PLAIN, n, fd_noise)[0] == "better"
    kind, match = guidance_window_kind(row(3.0, 0.99, 4.05, 30, (0, 800)), PLAIN, n, fd_noise)
    assert kind == "cheaper" and match["guidance"] == 2.0
    assert guidance_window_kind(row(3.0, 0.95, 6.0, 30, (0, 600)), PLAIN, n, fd_noise)[0] == "weaker"
    assert guidance_window_kind(row(3.0, 0.97, 5.5, 30, (0, 600)), PLAIN, n, fd_noise)[0] == "trade"


def test_a_clearly_better_plain_scale_at_the_same_cost_makes_a_window_a_trade():
    plain = [row(1.0, 0.98, 6.57, 20), row(1.5, 1.0, 6.28, 40), row(2.0, 1.0, 7.72, 40)]    # notebook 07, n = 500
    kind, match = guidance_window_kind(row(3.0, 1.0, 8.60, 36, (0, 800)), plain, 500, 1.085)
    assert kind == "trade" and match["guidance"] == 1.5                  # w = 2 ties it, but w = 1.5 is nearer
    kind, match = guidance_window_kind(row(3.0, 1.0, 8.40, 32, (200, 800)), plain, 500, 1.085)
    assert kind == "cheaper"                                             # 2.12 apart: inside the ± 2.17
    v = guidance_window_verdict([row(3.0, 1.0, 8.40, 32, (200, 800))], plain, 500, 1.085)
    assert "within the noise of a plain scale that needs more passes" in v.text
    assert "the window is +0.0 points ± 0.0 and +2.12 ± 2.17 in Fréchet" in v.text      # both gaps, with their noise


def test_window_verdict_status_follows_the_kinds():
    n, fd_noise = 1000, 0.1
    assert guidance_window_verdict([row(3.0, 1.0, 3.0, 30, (0, 800))], PLAIN, n, fd_noise).status == SUPPORTED
    assert guidance_window_verdict([row(3.0, 0.99, 4.05, 30, (0, 800))], PLAIN, n, fd_noise).status == PARTLY
    v = guidance_window_verdict([row(3.0, 0.95, 6.0, 30, (0, 600))], PLAIN, n, fd_noise)
    assert v.status == NOT_SUPPORTED and "[0, 600]" in v.text
    # the same window, measured on 20 digits: its accuracy gap to w = 2 is inside the noise, so it ties
    assert guidance_window_kind(row(3.0, 0.97, 4.0, 30, (0, 800)), PLAIN, 20, fd_noise)[0] == "cheaper"


def test_guidance_and_expressive_outputs():
    falling = [row(1.0, 0.95, 6, 20, diversity=9.0), row(3.0, 1.0, 5, 40, diversity=7.0)]
    rising = [row(1.0, 0.95, 6, 20, diversity=7.0), row(3.0, 1.0, 5, 40, diversity=9.0)]
    assert guidance_expressive_verdict(falling, 9.4).status == NOT_SUPPORTED
    assert guidance_expressive_verdict(rising, 9.4).status == SUPPORTED
    # a fall of 2.0 against a noise of 2.5 is inside it; against 1.5 it is a finding
    v = guidance_expressive_verdict(falling, 9.4, noise=2.5)
    assert v.status == CANNOT_TELL and "± 2.50" in v.text and "cannot tell" in v.text
    assert guidance_expressive_verdict(falling, 9.4, noise=1.5).status == NOT_SUPPORTED


def test_attention_verdict_needs_a_gain_beyond_the_noise_and_a_trained_model():
    secs = {"none": 100, "7x7": 130}
    v = attention_verdict({"none": 0.92, "7x7": 0.97}, secs, 1000, 800)
    assert v.status == SUPPORTED and "1.3x the training time" in v.text
    v = attention_verdict({"none": 0.924, "7x7": 0.932}, secs, 500, 800)       # trained, a tie inside the noise
    assert v.status == CANNOT_TELL and "inside its noise" in v.text and "more than about 3 points" in v.text
    assert attention_verdict({"none": 0.97, "7x7": 0.90}, secs, 1000, 800).status == NOT_SUPPORTED   # worse
    v = attention_verdict({"none": 0.20, "7x7": 0.21}, secs, 300, 800)
    assert v.status == CANNOT_TELL and "undertrained" in v.text            # both models still untrained
    v = attention_verdict({"none": 0.998, "7x7": 1.0}, secs, 1000, 800)    # both at the ceiling
    assert v.status == CANNOT_TELL and v.numbers["ceiling"] and "ceiling" in v.text


def test_attention_verdict_reads_the_distance_too():
    secs, acc = {"none": 72, "7x7": 81}, {"none": 0.924, "7x7": 0.932}
    v = attention_verdict(acc, secs, 500, 800, fd={"none": 24.2, "7x7": 20.8}, fd_noise=2.17)    # notebook 07
    assert v.status == SUPPORTED and v.numbers["wins"] == ["7x7"] and "Fréchet 20.8 against 24.2 ± 2.2" in v.text
    assert "7x7 wins on its Fréchet distance alone; its accuracy is within the noise." in v.text
    v = attention_verdict(acc, secs, 500, 800, fd={"none": 24.2, "7x7": 23.0}, fd_noise=2.17)
    assert v.status == CANNOT_TELL and "inside its noise" in v.text
    v = attention_verdict(acc, secs, 500, 800, fd={"none": 20.8, "7x7": 24.2}, fd_noise=2.17)
    assert v.status == NOT_SUPPORTED and v.numbers["losses"] == ["7x7"]
    assert "7x7 loses on its Fréchet distance alone" in v.text
    both = attention_verdict({"none": 0.90, "7x7": 0.97}, secs, 1000, 800, fd={"none": 24.2, "7x7": 20.8}, fd_noise=2.17)
    assert both.status == SUPPORTED and "alone" not in both.text         # won on both measures
    v = attention_verdict({"none": 0.90, "7x7": 0.97}, secs, 1000, 800, fd={"none": 20.8, "7x7": 24.2}, fd_noise=2.17)
    assert v.status == CANNOT_TELL and v.numbers["trades"] == ["7x7"] and "a trade" in v.text    # not a tie
    assert "inside its noise" not in v.text


def test_colour_path_verdict_against_chance():
    lit = {"ddim": 0.3, "ddpm": 0.2, "real": 0.17}
    assert colour_path_verdict({"ddim": 0.5, "ddpm": 0.84}, lit, 100).status == SUPPORTED
    assert colour_path_verdict({"ddim": 0.12, "ddpm": 0.15}, lit, 100).status == NOT_SUPPORTED   # inside chance's noise


def test_resolution_verdict_by_the_side_of_the_image():
    v = resolution_verdict((1, 28, 28), (3, 32, 32), 1.8)
    assert v.status == PARTLY and "1.14x the side" in v.text and "colour" in v.text
    assert abs(v.numbers["values"] - 3072 / 784) < 1e-9
    assert resolution_verdict((1, 28, 28), (3, 64, 64), 4.0).status == SUPPORTED
    assert resolution_verdict((1, 28, 28), (1, 28, 28), 1.0).status == NOT_SUPPORTED
