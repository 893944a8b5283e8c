"""helpers.widgets: sliders re-render on change (and a re-run builds fresh ones), the kernel-free
scrubber embeds one PNG per frame with offline buttons."""
import pytest
import torch

from helpers import NoiseSchedule, UNet, UNetConfig
from helpers import widgets
from helpers.pipeline import Pipeline
from helpers.plots import forward_frames


@pytest.fixture
def schedule():
    return NoiseSchedule(50, "linear")


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, mults=(1, 2))).eval()
    torch.nn.init.normal_(model.out[-1].weight, std=0.1)       # samples that depend on the label and guidance
    return Pipeline(model, NoiseSchedule(100), guidance=1.0)


# sliders --------------------------------------------------------------------------------------

def test_forward_slider_rerenders_on_change(schedule):
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    box = widgets.forward_slider(x0, schedule, t=0)
    slider, readout, image = box.children
    first, text0 = image.value, readout.value
    assert first[:4] == b"\x89PNG" and "t = 0" in text0
    slider.value = 40
    assert image.value != first and "t = 40" in readout.value
    again = widgets.forward_slider(x0, schedule, t=0)                          # a re-run builds a fresh one
    assert again.children[2].value == first


def test_guidance_slider_rerenders_on_change(tiny_pipe):
    box = widgets.guidance_slider(tiny_pipe, per_digit=1, steps=2)
    slider, image = box.children
    first = image.value
    assert first[:4] == b"\x89PNG" and slider.value == 1.0
    slider.value = 4.0
    assert image.value[:4] == b"\x89PNG" and image.value != first
    assert widgets.guidance_slider(tiny_pipe, per_digit=1, steps=2).children[1].value == first   # same noise


def test_hybrid_picker_rerenders_on_change(tiny_pipe, monkeypatch):
    seen = []
    real = widgets.sample_mixed
    monkeypatch.setattr(widgets, "sample_mixed", lambda pipe, weights, x_T, steps: seen.append(weights) or
                        real(pipe, weights, x_T, steps))
    box = widgets.hybrid_picker(tiny_pipe, n=2, steps=2)
    (a, b), w, image = box.children[0].children, box.children[1], box.children[2]
    first = image.value
    assert first[:4] == b"\x89PNG" and (a.value, b.value, w.value) == (3, 8, 0.5)
    w.value = 1.0
    assert image.value != first
    a.value = 1
    b.value = 2
    assert image.value[:4] == b"\x89PNG"
    eye = torch.eye(10)
    want = [0.5 * eye[3] + 0.5 * eye[8], eye[8], eye[8], eye[2]]      # each render mixes (1 - w) a + w b
    assert len(seen) == 4 and all(x.shape == (2, 10) for x in seen)
    for x, row in zip(seen, want):
        torch.testing.assert_close(x, row.expand(2, 10))


# the kernel-free scrubber ---------------------------------------------------------------------

def test_animation_scrubber_embeds_one_png_per_frame(schedule):
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    frames, titles = forward_frames(x0, schedule, [0, 25, 49])
    html = widgets.animation_scrubber(frames, titles, nrow=3, curve=(range(50), schedule.alpha_bar, "ab"),
                                      frame_x=[0, 25, 49]).data
    assert html.count("data:image/png;base64") == 3 and "<input" in html
    # offline: no CDN stylesheet, every button labelled with a glyph rather than a Font Awesome icon
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert html.count("<button") == 9 and "\u25B6" in html and "\u23F8" in html
    grids = widgets.animation_scrubber([torch.rand(10, 12), torch.rand(10, 12)]).data
    assert grids.count("data:image/png;base64") == 2
    with pytest.raises(ValueError, match="titles"):
        widgets.animation_scrubber(frames, titles[:2])
    with pytest.raises(ValueError, match="one size"):
        widgets.animation_scrubber([torch.rand(10, 12), torch.rand(10, 14)])
    with pytest.raises(ValueError, match="frame_x"):
        widgets.animation_scrubber(frames, curve=([0, 1], [0, 1], "y"))
    with pytest.raises(ValueError, match="at least one"):
        widgets.animation_scrubber([])


def test_offline_buttons_replace_the_cdn_icons():
    html = ('<link rel="stylesheet"\n href="https://cdnjs.cloudflare.com/font-awesome/4.4.0/css/font-awesome.min.css">'
            '<button><i class="fa fa-play"></i></button><button><i class="fa fa-unknown"></i></button>')
    out = widgets.offline_buttons(html)
    assert "font-awesome" not in out and "<i " not in out
    assert "<button>\u25B6</button>" in out and "<button>fa-unknown</button>" in out
