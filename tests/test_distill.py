"""data/distill_model.py: the teacher's path, the segment targets and the student's training, on a tiny
v-prediction model (the shipped distilled model's quality belongs to benchmarks/bench_fast.py)."""
import importlib.util
from pathlib import Path

import pytest
import torch

from helpers.pipeline import Pipeline
from helpers.samplers import make_sampler
from helpers.schedule import NoiseSchedule
from helpers.unet import UNet, UNetConfig

SCRIPT = Path(__file__).resolve().parents[1] / "data" / "distill_model.py"


@pytest.fixture(scope="module")
def distill():
    spec = importlib.util.spec_from_file_location("distill_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, mults=(1, 2), prediction="v"))
    with torch.no_grad():
        for p in model.out[-1].parameters():                  # a label-dependent, non-zero output
            p.normal_(0, 0.1)
    return Pipeline(model.eval(), NoiseSchedule(), guidance=1.5)


@pytest.fixture(scope="module")
def data(distill, teacher):
    grid = distill.student_grid(teacher.schedule, 2, 4)
    return distill.trajectories(teacher, 30, grid, 4, 1.5, chunk=16)


def test_the_students_grid_must_lie_on_the_teachers(distill):
    s = NoiseSchedule()
    assert distill.student_grid(s, 4, 12) == [999, 749, 499, 249]
    assert distill.student_grid(s, 1, 3) == [999]
    with pytest.raises(ValueError, match="multiple of --steps"):
        distill.student_grid(s, 4, 10)


def test_trajectories_are_the_teachers_own_samples(data, teacher):
    """x[0] is x_T, x[-1] the digit the guided teacher makes from it (the same as Pipeline.sample),
    x[1] its point at the student's second timestep; labels are balanced."""
    assert data["grid"] == [999, 499] and data["x"].shape == (3, 30, 1, 28, 28)
    assert torch.bincount(data["y"]).tolist() == [3] * 10
    x_T, y = data["x"][0], data["y"]
    made = teacher.sample(y, steps=4, sampler="dpm++", guidance=1.5, x_T=x_T)
    torch.testing.assert_close(data["x"][-1].add(1).div(2), made, rtol=0, atol=1e-5)
    assert not torch.allclose(data["x"][1], x_T) and data["x"][-1].abs().max() <= 1


def test_paths_on_a_coarser_grid_skip_the_points_between(distill, data):
    one = distill.on_grid(data, [999])
    assert one["grid"] == [999] and torch.equal(one["x"], data["x"][[0, 2]]) and torch.equal(one["y"], data["y"])


def test_segment_targets_land_on_the_teachers_next_point(distill, data, teacher):
    """Read as a v prediction, each target makes one DDIM step (no clipping) land on the next point."""
    s = teacher.schedule
    idx, k = torch.tensor([0, 5, 7, 9]), torch.tensor([0, 1, 0, 1])
    x_t, t, y, v = distill.segment_batch(data, s, idx, k)
    assert torch.equal(y, data["y"][idx]) and t.tolist() == [999, 499, 999, 499]
    ddim = make_sampler("ddim", s, 2)
    ddim.clip_x0 = False
    for i in range(4):
        eps = s.convert(v[i:i + 1], x_t[i:i + 1], t[i], "v").eps
        landed = ddim.step(eps, int(t[i]), x_t[i:i + 1]).prev_sample
        torch.testing.assert_close(landed, data["x"][k[i] + 1, idx[i]][None], rtol=1e-3, atol=3e-3)


def test_the_student_learns_the_segments_and_leaves_the_teacher_alone(distill, data, teacher):
    """On the segments it trains on (20 of 30 paths; the last 10 are held out and scored in its history),
    the student's error falls well below the teacher's own."""
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    ema, history = distill.train_student(teacher.model, teacher.schedule, data, steps=200, batch_size=16, lr=2e-3,
                                         holdout=10)
    assert all(torch.equal(before[k], v) for k, v in teacher.model.state_dict().items())
    assert [h[0] for h in history] == [200]
    segments = lambda paths: distill.segment_batch(data, teacher.schedule, paths.repeat(2),
                                                   torch.arange(2).repeat_interleave(len(paths)))
    assert history[-1][2] == pytest.approx(distill.held_out_loss(ema, segments(torch.arange(20, 30))))
    trained = segments(torch.arange(20))
    assert distill.held_out_loss(ema, trained) < 0.5 * distill.held_out_loss(teacher.model, trained)


def test_a_teacher_that_predicts_eps_is_refused(distill, data):
    eps_model = UNet(UNetConfig(base=8, mults=(1, 2), prediction="eps"))
    with pytest.raises(ValueError, match="predicts v"):
        distill.train_student(eps_model, NoiseSchedule(), data, steps=1)
