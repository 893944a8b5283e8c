"""helpers.plots: every figure renders from small inputs (an oracle denoiser that knows x0, fake
trajectories and histories), with the labels, panels and lines it promises."""
import pytest
import torch
from torch import nn

from helpers import NoiseSchedule, UNetConfig
from helpers import analysis as an
from helpers import plots
from helpers.classifier import Classifier
from helpers.samplers import Denoiser, Trajectory


class Oracle(nn.Module):
    """Predicts the exact noise for x0 = 0: a perfect denoiser of blank images."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule, self.config, self.null_label = schedule, UNetConfig(image_size=8, mults=(1, 2)), 10
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, y):
        return self.schedule.predict_eps(x, torch.zeros_like(x), t)


@pytest.fixture
def schedule():
    return NoiseSchedule(50, "linear")


# figures and image grids ----------------------------------------------------------------------

def test_image_grid_and_new_figure():
    x = torch.rand(5, 1, 4, 4)
    g = plots.image_grid(x, nrow=3)
    assert g.shape == (2 + 2 * 6, 2 + 3 * 6)                       # 2 rows of 3, 2 px padding
    assert torch.equal(g[2:6, 2:6], x[0, 0]) and g[8:12, 14:18].eq(1).all()   # the empty cell is white
    assert plots.image_grid(torch.rand(2, 3, 4, 4), nrow=2).shape == (8, 14, 3)
    fig, axes = plots.new_figure(4, 3, ncols=2, nrows=2)
    assert len(axes) == 4 and plots.figure_png(fig)[:4] == b"\x89PNG"


def test_grid_figure_labels_and_png():
    ax = plots.grid_figure(torch.rand(6, 1, 8, 8), nrow=3, row_labels=["a", "b"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert not any(sp.get_visible() for sp in ax.spines.values())
    assert plots.grid_png(torch.rand(4, 1, 8, 8), 2, "t")[:4] == b"\x89PNG"
    ax = plots.plot_curves({"a": ([0, 1], [1, None]), "b": ([0, 1], [2, 3])}, "x", "y")
    assert len(ax.lines) == 2
    x = torch.rand(20, 1, 28, 28)
    assert len(plots.compare_grids({"a": x, "b": x}).axes) == 2


# the forward process --------------------------------------------------------------------------

def test_forward_frames_share_one_noise_draw(schedule):
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    frames, titles = plots.forward_frames(x0, schedule, [0, 25, 49])
    assert len(frames) == 3 and "t = 25" in titles[1] and 0 <= frames[2].min() <= frames[2].max() <= 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    x_t = schedule.add_noise(x0, noise, torch.full((3,), 25))
    torch.testing.assert_close(frames[1], ((x_t + 1) / 2).clamp(0, 1))
    assert len(plots.forward_figure(x0, schedule, 10, noise).axes) == 4         # image, histogram, alpha_bar + SNR


def test_plot_schedules_marks_destruction_times():
    scheds = {"linear": NoiseSchedule(100, "linear"), "cosine": NoiseSchedule(100, "cosine")}
    marks = {k: an.destruction_times(s) for k, s in scheds.items()}
    fig = plots.plot_schedules(scheds, marks)
    vlines = {int(l.get_xdata()[0]) for l in fig.axes[1].lines if len(set(l.get_xdata())) == 1}
    assert vlines == {t for m in marks.values() for t in m.values()}
    assert plots.figure_png(fig)[:4] == b"\x89PNG"


# results of experiments -----------------------------------------------------------------------

def test_result_figures_render(schedule):
    den = Denoiser(Oracle(schedule), schedule)
    res = an.recovery_experiment(den, torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long),
                                 ts=[4, 49], steps=10, progress=False)
    assert len(plots.plot_recovery(res, gray_reference=0.1).axes) == 2          # no accuracy panel
    res["acc_one_shot"] = res["acc_reverse"] = [0.5, 0.1]
    assert len(plots.plot_recovery(res).axes) == 3
    assert len(plots.recovery_examples(res, n=4).axes) == 3 * 2
    emb = torch.randn(50, 16).clamp(-1, 1)
    assert len(plots.plot_time_embedding(emb).axes) == 2
    x_t, x0_hat = an.label_sweep(den, torch.zeros(2, 1, 8, 8), 5, labels=range(3))
    ax = plots.label_sweep_grid(x_t, x0_hat, labels=torch.arange(3))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x_t", "0", "1", "2"]
    ax = plots.noising_grid(torch.zeros(2, 1, 8, 8), schedule, [0, 10, 49])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10", "49"]
    sweep = an.t_sweep(den, torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), 20, [0, 20, 49])
    assert len(plots.plot_t_sweep(sweep, 20).axes) == 2


def test_similarity_heatmap_values():
    v = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    ax = plots.similarity_heatmap(v, ["a", "b", "c"])
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["1.0", "1.0", "0.0"] and len(texts) == 9


# training -------------------------------------------------------------------------------------

def fake_history(n_grids=3, per_digit=4):
    g = torch.Generator().manual_seed(0)
    grids = [torch.randint(0, 256, (10 * per_digit, 1, 28, 28), generator=g).to(torch.uint8)
             for _ in range(n_grids)]
    steps = [50 * (k + 1) for k in range(n_grids)]
    return {"epoch": [s / 100 for s in steps], "step": steps, "time": [3.0 * s for s in steps],
            "train_loss": [0.5 / (k + 1) for k in range(n_grids)], "val_loss": [0.4 / (k + 1) for k in range(n_grids)],
            "val_loss_raw": [0.45 / (k + 1) for k in range(n_grids)], "samples": grids,
            "step_loss": [(s, 0.5 / (k + 1)) for k, s in enumerate(steps)]}


def test_training_figures():
    h = fake_history()
    fig = plots.snapshot_figure(h, per_digit=2)
    assert len(fig.axes[0].get_yticklabels()) == 3
    with pytest.raises(ValueError, match="per_digit"):
        plots.snapshot_figure(h, per_digit=5)
    with pytest.raises(ValueError, match="no sample grids"):
        plots.snapshot_figure({**h, "samples": []})
    assert len(plots.plot_history(h).axes[0].get_lines()) == 4
    quality = an.snapshot_quality(h, Classifier().eval())
    assert len(plots.plot_snapshot_quality(quality, real_gray=0.1).axes) == 2
    schedule = NoiseSchedule(1000, "cosine")
    fig = plots.plot_loss_by_t([10, 500], {"m": torch.tensor([0.2, 0.01])}, schedule, x0_reference=0.4)
    assert len(fig.axes) == 2
    # the right panel is the implied x0 error, eps-MSE / SNR(t)
    want = an.implied_x0_mse(torch.tensor([0.2, 0.01]), schedule, [10, 500])
    line = next(l for l in fig.axes[1].lines if l.get_label() == "m")
    torch.testing.assert_close(torch.as_tensor(line.get_ydata()), want, check_dtype=False)


# the reverse process --------------------------------------------------------------------------

def marker_images(labels, shift: int):
    x = torch.full((len(labels), 1, 28, 28), -1.0)
    x[torch.arange(len(labels)), 0, 0, (labels + shift) % 10] = 1.0
    return x


def fake_trajectory(labels, S=4):
    """x_t: wrong digit (label + 1) for the first half of the steps, then right; x_T overshoots [-1, 1]."""
    x_t = [marker_images(labels, 1 if k < S // 2 else 0) for k in range(S + 1)]
    x_t[0] = x_t[0] * 4
    return Trajectory(torch.arange(S - 1, -1, -1) * 10, x_t, [marker_images(labels, 0) for _ in range(S)])


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


def test_trajectory_pairs_and_strip():
    labels = torch.arange(10).repeat(2)
    traj = fake_trajectory(labels)
    frames, titles, steps = plots.trajectory_pairs(traj, [0, 0.5, 1.0], n=20)
    assert steps == [0, 2, 4] and len(titles) == 3 and "100%" in titles[-1]
    assert frames[0].dim() == 2 and all(f.shape == frames[0].shape for f in frames)
    assert frames[0].shape == (2 + 2 * 30, 2 * (2 + 10 * 30) + 6)
    assert 0 <= frames[0].min() and frames[0].max() <= 1
    plots.plot_strip(traj, [0, 0.5, 1.0], rows=2)
    plots.pair_figure(traj, 4, n=10)
    with pytest.raises(ValueError, match="step must lie in 0..4"):
        plots.pair_figure(traj, 5)


def test_score_figures():
    f = torch.linspace(0, 1, 5, dtype=torch.float64)
    per_digit = torch.rand(5, 10)
    c = an.Curves(f, torch.tensor([30, 20, 10, 0, -1]), per_digit.mean(1), per_digit.mean(1), per_digit)
    fig = plots.plot_scores({"x_t": c, "x0": c}, "fake", controls={"x_t": c})
    assert len(fig.axes) == 2
    labels = [l.get_label() for l in fig.axes[0].lines]
    assert "x_t (noisy image)" in labels and "x0_hat (model's prediction)" in labels
    assert any(l.startswith("real digits") for l in labels)
    fig = plots.plot_per_digit(c)
    assert len([l for l in fig.axes[0].lines if l.get_label() in map(str, range(10))]) == 10


def test_spectra_and_sweep_figures():
    p = torch.rand(3, 15) + 0.01
    assert len(plots.plot_spectra({"a": p[0], "b": p[1]}, p[2], 1 / 784).axes) == 1
    fig = plots.plot_spectral_error({"x_t": (torch.linspace(0, 1, 4), torch.rand(4, 15) + 1e-3)},
                                    {"x_t": [0.5] * 15}, 0.1)
    assert len(fig.axes) == 3                                   # one heat map, its colour bar, the settle panel
    rows = [{"sampler": s, "steps": k, "accuracy": 0.9, "kid": 0.01, "images_per_s": 10.0, "n": 20,
             "diversity": 1.0, "diversity_real": 1.2} for s in ("ddim", "ddpm") for k in (1, 10)]
    fig = plots.plot_sweep(rows, "steps", kid_real=0.001, logx=True)
    assert len(fig.axes) == 3 and len([l for l in fig.axes[0].lines if l.get_label() in ("ddim", "ddpm")]) == 2
