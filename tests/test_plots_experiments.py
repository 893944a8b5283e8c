"""helpers.plots and helpers.experiments on tiny inputs: an oracle denoiser that knows x0, a tiny U-Net."""
import pytest
import torch
from torch import nn

from helpers import NoiseSchedule, UNet, UNetConfig, count_parameters
from helpers import experiments as ex
from helpers import plots
from helpers.classifier import Classifier
from helpers.samplers import Trajectory, make_sampler

TINY = UNetConfig(image_size=8, base=8, mults=(1, 2))


class Oracle(nn.Module):
    """Predicts the exact noise for x0 = a constant image of value x0_of_label(y): a perfect denoiser."""

    def __init__(self, schedule, value_of_label=lambda y: torch.zeros_like(y, dtype=torch.float)):
        super().__init__()
        self.schedule, self.value_of_label = schedule, value_of_label
        self.null_label = 10
        self.dummy = nn.Parameter(torch.zeros(1))
        self.seen_labels = []

    def forward(self, x, t, y):
        self.seen_labels.append(y.clone())
        x0 = self.value_of_label(y).view(-1, 1, 1, 1).expand_as(x).to(x.dtype)
        return self.schedule.predict_eps(x, x0, t)


@pytest.fixture
def schedule():
    return NoiseSchedule(50, "linear")


# the forward process --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_destruction_times_are_first_crossings(kind):
    s = NoiseSchedule(200, kind)
    times = ex.destruction_times(s, levels=(0.5, 0.05, -1.0))
    for level in (0.5, 0.05):
        t = times[level]
        assert s.alpha_bar[t] < level <= s.alpha_bar[t - 1]
    assert times[-1.0] is None
    assert times[0.5] < times[0.05]


def test_forward_sequential_matches_the_closed_form(schedule):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(256, 1, 8, 8, generator=g) * 2 - 1
    for t in (0, 10, 49):
        x_t = ex.forward_sequential(x0, schedule, t, generator=g)
        assert abs(ex.noise_residual_std(x_t, x0, schedule, t) - 1) < 0.03
    noiseless = schedule.alpha_bar[10].sqrt() * x0
    assert ex.noise_residual_std(noiseless, x0, schedule, 10) < 1e-5
    with pytest.raises(ValueError, match="timesteps"):
        ex.forward_sequential(x0, schedule, 50)


def test_mid_gray_fraction_and_mse():
    x = torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0, 0.3]).view(1, 1, 2, 3)
    assert ex.mid_gray_fraction(x) == pytest.approx(2 / 6)
    assert ex.mse(torch.zeros(2, 2), torch.ones(2, 2) * 3) == pytest.approx(9)


def test_classifier_accuracy_with_a_classifier_that_always_says_three():
    clf = Classifier().eval()
    with torch.no_grad():
        clf.head[-1].weight.zero_()
        clf.head[-1].bias.copy_(torch.arange(10) == 3)
    y = torch.tensor([3, 3, 1, 0])
    assert ex.classifier_accuracy(clf, torch.rand(4, 1, 28, 28), y) == pytest.approx(0.5)


# one network call vs the reverse process ------------------------------------------------------

def test_snap_to_grid(schedule):
    grid = make_sampler("ddim", schedule, 10).timesteps                  # 49, 44, ..., 4
    assert ex.snap_to_grid([49, 47, 1, 48], grid) == [49, 4]
    assert all(t in grid.tolist() for t in ex.snap_to_grid(range(50), grid))


def test_reverse_from_rejects_off_grid_t(schedule):
    with pytest.raises(ValueError, match="snap_to_grid"):
        ex.reverse_from(Oracle(schedule), schedule, torch.zeros(2, 1, 8, 8), 47, torch.zeros(2, dtype=torch.long),
                        steps=10)


def test_recovery_experiment_with_a_perfect_denoiser(schedule):
    y = torch.tensor([1, 2, 3])
    model = Oracle(schedule, value_of_label=lambda y: (y.float() - 2) / 2)      # labels 1, 2, 3 -> -0.5, 0, 0.5
    x0 = ((y.float() - 2) / 2).view(-1, 1, 1, 1).expand(3, 1, 8, 8).clone()
    res = ex.recovery_experiment(model, schedule, x0, y, ts=[3, 20, 49], steps=10, progress=False)
    assert res["t"] == [4, 19, 49]                                       # snapped to the 10-step grid
    assert res["calls_reverse"] == [1, 4, 10]
    assert res["acc_one_shot"] == [None] * 3
    for way in ("one_shot", "reverse"):
        assert max(res[f"mse_{way}"]) < 1e-3                                   # the oracle recovers x0
    x_t, one, rev = res["images"][19]
    assert x_t.shape == one.shape == rev.shape == (3, 1, 8, 8)
    assert 0 <= one.min() and rev.max() <= 1
    assert res["mse_one_shot"][0] == pytest.approx(res["mse_reverse"][0], abs=1e-6)   # 1 step = 1 call


def test_recovery_experiment_can_hide_the_label(schedule):
    model = Oracle(schedule)
    x0 = torch.zeros(2, 1, 28, 28)
    clf = Classifier().eval()
    res = ex.recovery_experiment(model, schedule, x0, torch.tensor([4, 5]), ts=[9], steps=5, classifier=clf,
                                 hide_label=True, progress=False)
    assert all((y == 10).all() for y in model.seen_labels)
    assert 0 <= res["acc_reverse"][0] <= 1


# training and probing -------------------------------------------------------------------------

def test_train_denoiser_runs_a_fixed_number_of_steps():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8, generator=g) * 2 - 1, torch.randint(0, 10, (64,), generator=g)
    trainer, curve = ex.train_denoiser(UNetConfig(**{**TINY.__dict__, "skips": False}), x, y, x[:16], y[:16],
                                       steps=5, eval_every=2, batch_size=16, progress=False, bf16=False)
    assert trainer.step == 5 and curve["step"] == [2, 4, 5]
    assert all(0 < v < 10 for v in curve["val_loss"]) and curve["seconds"] > 0
    assert not trainer.model.config.skips
    with pytest.raises(ValueError, match="steps"):
        ex.train_denoiser(TINY, x, y, x, y, steps=0)


def test_label_sweep_keeps_image_and_label_order(schedule):
    model = Oracle(schedule, value_of_label=lambda y: y.float() / 10)
    x0 = torch.zeros(2, 1, 8, 8)
    x_t, x0_hat = ex.label_sweep(model, schedule, x0, t=5, labels=[0, 3, 7])
    assert x_t.shape == (2, 1, 8, 8) and x0_hat.shape == (2, 3, 1, 8, 8)
    for j, label in enumerate([0, 3, 7]):
        assert torch.allclose(x0_hat[:, j], torch.full((2, 1, 8, 8), label / 10), atol=1e-4)
    _, x0_rev = ex.label_sweep(model, schedule, x0, t=19, labels=[0, 3, 7], steps=10)   # reverse process
    assert torch.allclose(x0_rev[1, 2], torch.full((1, 8, 8), 0.7), atol=1e-4)
    with pytest.raises(ValueError, match="grid"):
        ex.label_sweep(model, schedule, x0, t=5, steps=10)


def test_t_sweep_error_is_smallest_at_the_true_t(schedule):
    x0 = torch.zeros(4, 1, 8, 8)
    out = ex.t_sweep(Oracle(schedule), schedule, x0, torch.zeros(4, dtype=torch.long), 20, [0, 10, 20, 30, 49])
    assert out["t"] == [0, 10, 20, 30, 49]
    assert min(range(5), key=lambda i: out["eps_mse"][i]) == 2 and out["eps_mse"][2] < 1e-6
    assert len(out["eps_rms"]) == 5


def test_parameters_by_part_and_trace_shapes():
    model = UNet(TINY).eval()
    parts = ex.parameters_by_part(model)
    assert sum(v for k, v in parts.items() if k != "total") == parts["total"] == count_parameters(model)
    rows = ex.trace_shapes(model, torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([3, 4]))
    names = [r[0] for r in rows]
    assert names[:3] == ["time_emb", "class_emb", "init_conv"] and names[-1] == "out"
    assert "down.0.0" in names and "up.0.0" in names
    shapes = {r[0]: r for r in rows}
    assert shapes["out"][3] == (2, 1, 8, 8) and shapes["init_conv"][3] == (2, 8, 8, 8)
    assert shapes["up.0.0"][2][1] == 2 * shapes["mid.0"][3][1]              # concatenated skip
    assert all(not m._forward_hooks for m in model.modules())               # hooks removed


# figures --------------------------------------------------------------------------------------

def test_forward_slider_rerenders_on_change(schedule):
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    box = plots.forward_slider(x0, schedule, t=0)
    slider, readout, image = box.children
    first, text0 = image.value, readout.value
    assert first[:4] == b"\x89PNG" and "t = 0" in text0
    slider.value = 40
    assert image.value != first and "t = 40" in readout.value
    again = plots.forward_slider(x0, schedule, t=0)                          # a re-run builds a fresh one
    assert again.children[2].value == first


def test_animation_scrubber_embeds_one_png_per_frame(schedule):
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    frames, titles = plots.forward_frames(x0, schedule, [0, 25, 49])
    assert len(frames) == 3 and "t = 25" in titles[1] and 0 <= frames[2].min() <= frames[2].max() <= 1
    html = plots.animation_scrubber(frames, titles, nrow=3, curve=(range(50), schedule.alpha_bar, "ab"),
                                    frame_x=[0, 25, 49]).data
    assert html.count("data:image/png;base64") == 3 and "<input" in html
    # offline: no CDN stylesheet, every button labelled with a glyph rather than a Font Awesome icon
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert html.count("<button") == 9 and "\u25B6" in html and "\u23F8" in html
    grids = plots.animation_scrubber([torch.rand(10, 12), torch.rand(10, 12)]).data
    assert grids.count("data:image/png;base64") == 2
    with pytest.raises(ValueError, match="titles"):
        plots.animation_scrubber(frames, titles[:2])
    with pytest.raises(ValueError, match="one size"):
        plots.animation_scrubber([torch.rand(10, 12), torch.rand(10, 14)])
    with pytest.raises(ValueError, match="frame_x"):
        plots.animation_scrubber(frames, curve=([0, 1], [0, 1], "y"))
    with pytest.raises(ValueError, match="at least one"):
        plots.animation_scrubber([])


def test_trajectory_frames():
    traj = Trajectory(torch.tensor([9, 4]), [torch.full((20, 1, 4, 4), v) for v in (-1.0, 0.0, 1.0)],
                      [torch.full((20, 1, 4, 4), v) for v in (0.0, 1.0)])
    frames, titles = plots.trajectory_frames(traj, "x_t", max_images=5)
    assert len(frames) == 3 and frames[0].shape == (5, 1, 4, 4) and titles[-1].startswith("x_0")
    assert frames[1].unique().tolist() == [0.5]
    frames, titles = plots.trajectory_frames(traj, "x0")
    assert len(frames) == 2 and "t = 4" in titles[1]
    with pytest.raises(ValueError, match="which"):
        plots.trajectory_frames(traj, "eps")


def test_plot_schedules_marks_destruction_times():
    scheds = {"linear": NoiseSchedule(100, "linear"), "cosine": NoiseSchedule(100, "cosine")}
    marks = {k: ex.destruction_times(s) for k, s in scheds.items()}
    fig = plots.plot_schedules(scheds, marks)
    vlines = {int(l.get_xdata()[0]) for l in fig.axes[1].lines if len(set(l.get_xdata())) == 1}
    assert vlines == {t for m in marks.values() for t in m.values()}
    assert plots.figure_png(fig)[:4] == b"\x89PNG"


def test_result_figures_render(schedule):
    model = Oracle(schedule)
    res = ex.recovery_experiment(model, schedule, torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long),
                                 ts=[4, 49], steps=10, progress=False)
    assert len(plots.plot_recovery(res, gray_reference=0.1).axes) == 2          # no accuracy panel
    res["acc_one_shot"] = res["acc_reverse"] = [0.5, 0.1]
    assert len(plots.plot_recovery(res).axes) == 3
    assert len(plots.recovery_examples(res, n=4).axes) == 3 * 2
    emb = torch.randn(50, 16).clamp(-1, 1)
    assert len(plots.plot_time_embedding(emb).axes) == 2
    x_t, x0_hat = ex.label_sweep(model, schedule, torch.zeros(2, 1, 8, 8), 5, labels=range(3))
    ax = plots.label_sweep_grid(x_t, x0_hat, labels=torch.arange(3))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x_t", "0", "1", "2"]
    ax = plots.noising_grid(torch.zeros(2, 1, 8, 8), schedule, [0, 10, 49])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10", "49"]
    ax = plots.grid_figure(torch.rand(6, 1, 8, 8), nrow=3, row_labels=["a", "b"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert not any(sp.get_visible() for sp in ax.spines.values())
    ax = plots.plot_curves({"a": ([0, 1], [1, None]), "b": ([0, 1], [2, 3])}, "x", "y")
    assert len(ax.lines) == 2


def test_similarity_heatmap_values():
    v = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    ax = plots.similarity_heatmap(v, ["a", "b", "c"])
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["1.0", "1.0", "0.0"] and len(texts) == 9
