import pytest
import torch

from helpers import NoiseSchedule, Trainer, TrainConfig, UNet, UNetConfig
from helpers.classifier import Classifier
from helpers.curves import (compare_grids, eps_and_x0_mse, fit_with_snapshots, grid_labels,
                            implied_x0_mse, improvement_summary, plot_history, plot_loss_by_t,
                            snapshot_figure, snapshot_quality)

TINY = UNetConfig(image_size=8, base=8, mults=(1, 2))


def tiny_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 8, 8), generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def fake_history(n_grids=3, per_digit=4):
    g = torch.Generator().manual_seed(0)
    grids = [torch.randint(0, 256, (10 * per_digit, 1, 28, 28), generator=g).to(torch.uint8)
             for _ in range(n_grids)]
    steps = [50 * (k + 1) for k in range(n_grids)]
    return {"epoch": [s / 100 for s in steps], "step": steps, "time": [3.0 * s for s in steps],
            "train_loss": [0.5 / (k + 1) for k in range(n_grids)], "val_loss": [0.4 / (k + 1) for k in range(n_grids)],
            "val_loss_raw": [0.45 / (k + 1) for k in range(n_grids)], "samples": grids,
            "step_loss": [(s, 0.5 / (k + 1)) for k, s in enumerate(steps)]}


def test_improvement_summary_counts_decreases_and_rises():
    s = improvement_summary([1.0, 0.5, 0.6, 0.3])
    assert (s["decreases"], s["intervals"], s["monotone"]) == (2, 3, False)
    assert s["drop"] == pytest.approx(0.7) and s["best"] == 0.3
    assert s["worst_rise"] == pytest.approx(0.2)
    assert s["second_half_drop"] == pytest.approx(0.4)          # from v[1] = 0.5 to 0.3
    assert improvement_summary([3, 2, 1])["monotone"]
    by_step = improvement_summary([1.0, 0.5, 0.4, 0.3], steps=[25, 50, 100, 400])
    assert by_step["half_step"] == 100 and by_step["second_half_drop"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="steps"):
        improvement_summary([1.0, 0.5], steps=[1])
    with pytest.raises(ValueError, match="at least two"):
        improvement_summary([1.0])


def test_x0_error_is_eps_error_over_snr():
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    schedule = NoiseSchedule(1000, "cosine")
    x0, y = tiny_data(16)
    for t in (10, 400, 900):
        eps_mse, x0_mse = eps_and_x0_mse(model, schedule, x0, y, t)
        assert x0_mse == pytest.approx(implied_x0_mse([eps_mse], schedule, [t]).item(), rel=1e-3)
    with pytest.raises(ValueError, match="timesteps"):
        implied_x0_mse([1.0], schedule, [1000])


def test_grid_labels():
    assert grid_labels(40).tolist() == [d for d in range(10) for _ in range(4)]
    with pytest.raises(ValueError, match="multiple of 10"):
        grid_labels(35)


def test_snapshots_add_evaluations_without_changing_training(tmp_path):
    x, y = tiny_data(64)
    cfg = dict(epochs=2, batch_size=16, max_minutes=10, warmup_steps=2, sample_steps=2, val_size=16, seed=3)
    plain = Trainer(TINY, TrainConfig(**cfg))
    plain.fit(x, y, x[:16], y[:16], progress=False)
    snap = Trainer(TINY, TrainConfig(**cfg))
    ckpt = tmp_path / "run.pt"
    h = fit_with_snapshots(snap, x, y, x[:16], y[:16], snapshot_steps=(3, 1, 4), checkpoint=str(ckpt),
                           progress=False)
    assert h["step"] == [1, 3, 4, 8] and plain.history["step"] == [4, 8]
    assert len(h["samples"]) == 4 and snap.config.max_steps is None
    for a, b in zip(plain.model.parameters(), snap.model.parameters()):
        assert torch.equal(a, b)
    assert h["val_loss"][-1] == plain.history["val_loss"][-1]
    assert Trainer.load(ckpt).config.max_steps is None
    with pytest.raises(ValueError, match="max_minutes"):
        fit_with_snapshots(Trainer(TINY, TrainConfig(epochs=1, batch_size=16)), x, y, snapshot_steps=(2,))


def test_snapshot_quality_and_figures():
    h = fake_history()
    h["samples"][1].zero_()                                     # an all-black grid: no grey pixels
    q = snapshot_quality(h, Classifier().eval())
    assert q["step"] == h["step"] and len(q["accuracy"]) == 3
    assert all(0 <= a <= 1 for a in q["accuracy"]) and q["gray"][1] == 0 and q["gray"][0] > 0.5
    fig = snapshot_figure(h, per_digit=2)
    assert len(fig.axes[0].get_yticklabels()) == 3
    with pytest.raises(ValueError, match="per_digit"):
        snapshot_figure(h, per_digit=5)
    assert len(plot_history(h).axes[0].get_lines()) == 4
    x = h["samples"][0][:20].float() / 255
    assert len(compare_grids({"a": x, "b": x}).axes) == 2
    schedule = NoiseSchedule(1000, "cosine")
    fig = plot_loss_by_t([10, 500], {"m": torch.tensor([0.2, 0.01])}, schedule, x0_reference=0.4)
    assert len(fig.axes) == 2
