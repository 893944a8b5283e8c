"""helpers.train: the loss goes down, checkpoints round-trip, are written atomically, resume
exactly, and damaged or foreign files fail with CheckpointError. Tiny U-Net, a few hundred digits."""
import os

import pytest
import torch

from helpers.analysis import eps_mse, eps_mse_by_t
from helpers.checkpoint import DIFFUSION as KIND
from helpers.checkpoint import CheckpointError, load_checkpoint
from helpers.data import mnist_tensors, random_subset
from helpers.samplers import Denoiser
from helpers.schedule import NoiseSchedule
from helpers.train import Trainer, TrainConfig, diffusion_loss, short_run
from helpers.unet import UNetConfig

TINY = UNetConfig(base=8, mults=(1, 2))


def tiny_config(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=3, batch_size=32, lr=3e-3, warmup_steps=5, sample_steps=0, val_size=64,
                                 seed=0), **kw})


@pytest.fixture(scope="module")
def digits():
    """320 training and 64 validation digits, (N, 1, 28, 28) in [-1, 1]."""
    x, y = mnist_tensors("val")
    x_train, y_train = random_subset(x, y, 320, seed=0)
    x_val, y_val = random_subset(x, y, 64, seed=1)
    return x_train, y_train, x_val, y_val


def assert_same_state(a: Trainer, b: Trainer):
    for name in ("model", "ema"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k} differs"
    oa, ob = a.opt.state_dict(), b.opt.state_dict()
    assert oa["param_groups"] == ob["param_groups"]
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.equal(v, ob["state"][i][k]), f"optimizer state {i}.{k} differs"
    assert a.step == b.step


# training -------------------------------------------------------------------------------------

def test_loss_decreases_on_a_tiny_run(digits):
    x, y, xv, yv = digits
    tr = Trainer(TINY, tiny_config(epochs=15), device="cpu")          # 10 steps per epoch, 150 steps
    before = tr.val_loss(tr.model, xv, yv)
    assert before == pytest.approx(1.0, abs=0.15), "the zero-initialised model predicts eps = 0: MSE ~ 1"
    hist = tr.fit(x, y, xv, yv, progress=False)
    assert tr.step == 150 and len(hist["val_loss"]) == 15 and hist["step"][-1] == 150
    assert hist["train_loss"][-1] < 0.6 * hist["train_loss"][0]
    assert hist["val_loss_raw"][-1] < 0.5 * before
    assert hist["val_loss"][-1] < hist["val_loss"][0], "the EMA weights must improve too"
    assert hist["step_loss"] and hist["step_loss"][-1][0] == 150


def test_fit_saves_calls_back_and_draws_sample_grids(digits, tmp_path):
    x, y, xv, yv = digits
    calls = []
    tr = Trainer(TINY, tiny_config(epochs=2, sample_steps=2), device="cpu")
    hist = tr.fit(x, y, xv, yv, checkpoint=tmp_path / "run.pt", progress=False,
                  on_epoch_end=lambda t: calls.append(t.step))
    assert calls == [10, 20]
    assert load_checkpoint(tmp_path / "run.pt", KIND)["step"] == 20
    grid = hist["samples"][-1]
    assert len(hist["samples"]) == 2 and grid.shape == (40, 1, 28, 28) and grid.dtype == torch.uint8


def test_fit_rejects_mismatched_data(digits):
    x, y, _, _ = digits
    tr = Trainer(TINY, tiny_config(), device="cpu")
    with pytest.raises(ValueError, match="x must be"):
        tr.fit(x[:, 0], y, progress=False)
    with pytest.raises(ValueError, match="x must be"):
        tr.fit(x, y[:-1], progress=False)


@pytest.mark.parametrize("bad", [dict(loss_weighting="snr"), dict(epochs=0), dict(batch_size=-1), dict(lr=0)])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_learning_rate_warms_up_then_decays():
    tr = Trainer(TINY, tiny_config(lr=1e-3, warmup_steps=10, lr_final=0.1), device="cpu")
    lrs = [tr.lr_at(k, 100) for k in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert tr.lr_at(100, 100) == pytest.approx(1e-4)


@pytest.mark.parametrize("decay", [False, True])
def test_time_budget_holds_or_decays_the_learning_rate_over_minutes(decay):
    tr = Trainer(TINY, tiny_config(lr=1e-3, warmup_steps=10, lr_final=0.1, max_minutes=2, decay_over_time=decay),
                 device="cpu")
    lrs = []
    for seconds in (0, 60, 120):
        tr.elapsed = seconds
        lrs.append(tr.lr_at(50, 100))          # the step count does not matter under a time budget
    assert lrs == pytest.approx([1e-3, 0.55e-3, 1e-4] if decay else [1e-3] * 3)


def test_min_snr_weighting_only_lowers_the_loss():
    tr = Trainer(TINY, tiny_config(), device="cpu")
    with torch.no_grad():
        for p in tr.model.out[-1].parameters():
            p.normal_(0, 0.1)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand((8, 1, 28, 28), generator=g) * 2 - 1, torch.randn((8, 1, 28, 28), generator=g)
    t, y = torch.arange(0, 1000, 125), torch.arange(8)
    with torch.no_grad():
        plain = diffusion_loss(tr.model, tr.schedule, x0, y, t, noise, reduce=False)
        weighted = diffusion_loss(tr.model, tr.schedule, x0, y, t, noise, "min_snr", 5.0, reduce=False)
    assert plain.shape == (8,) and (weighted <= plain + 1e-6).all() and (weighted < plain).any()
    by_t = eps_mse_by_t(Denoiser(tr.model, tr.schedule, bf16=False), x0, y, [10, 500, 990])
    assert by_t.shape == (3,) and torch.isfinite(by_t).all()
    same_noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))    # eps_mse_by_t's seed 0
    with torch.no_grad():                    # for an eps model the eps-MSE is the plain loss at each t
        plain_by_t = [diffusion_loss(tr.model, tr.schedule, x0, y, torch.full((8,), t), same_noise).item()
                      for t in (10, 500, 990)]
    torch.testing.assert_close(by_t, torch.tensor(plain_by_t), rtol=1e-5, atol=1e-7)


class Oracle(torch.nn.Module):
    """Answers with a fixed tensor (B, C, H, W) whatever it is given, labelled as eps or v."""
    null_label = 10

    def __init__(self, out, prediction):
        super().__init__()
        self.out, self.config = out, UNetConfig(prediction=prediction)
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x_t, t, y):
        return self.out[: len(x_t)].repeat(len(x_t) // len(self.out), 1, 1, 1) + self.w


def test_v_prediction_loss_targets_v_and_min_snr_weights_the_implied_eps_error_alike():
    s = NoiseSchedule(1000, "cosine")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand((8, 1, 28, 28), generator=g) * 2 - 1, torch.randn((8, 1, 28, 28), generator=g)
    t, y = torch.arange(0, 1000, 125), torch.arange(8)
    v = s.get_velocity(x0, noise, t)
    assert diffusion_loss(Oracle(v, "v"), s, x0, y, t, noise).item() == pytest.approx(0, abs=1e-10)
    assert diffusion_loss(Oracle(v, "eps"), s, x0, y, t, noise).item() > 0.1, "v is not eps: an eps model is wrong"
    v_hat = v + 0.1 * torch.randn(v.shape, generator=g)                       # an imperfect v-model
    eps_hat = s.eps_from_v(v_hat, s.add_noise(x0, noise, t), t)             # the eps-model it implies
    lv = diffusion_loss(Oracle(v_hat, "v"), s, x0, y, t, noise, "min_snr", 5.0, reduce=False)
    le = diffusion_loss(Oracle(eps_hat, "eps"), s, x0, y, t, noise, "min_snr", 5.0, reduce=False)
    torch.testing.assert_close(lv, le, rtol=1e-3, atol=1e-7)
    plain_v = diffusion_loss(Oracle(v_hat, "v"), s, x0, y, t, noise, reduce=False)
    assert not torch.allclose(plain_v, le, rtol=1e-2), "plain v-MSE weights timesteps differently"
    plain_e = diffusion_loss(Oracle(eps_hat, "eps"), s, x0, y, t, noise, reduce=False)
    # analysis.eps_mse judges a v model by the eps it implies: the eps-model's own loss
    implied = eps_mse(Denoiser(Oracle(v_hat, "v"), s, bf16=False), x0, y, t, noise)
    torch.testing.assert_close(implied, plain_e, rtol=1e-3, atol=1e-7)
    assert not torch.allclose(implied, plain_v, rtol=1e-2), "the implied eps-MSE is not the v-MSE"
    torch.testing.assert_close(implied, s.alpha_bar[t] * plain_v, rtol=1e-3, atol=1e-7)   # eps error = sqrt(ab) v error
    torch.testing.assert_close(eps_mse(Denoiser(Oracle(eps_hat, "eps"), s, bf16=False), x0, y, t, noise), plain_e,
                               rtol=1e-6, atol=1e-9), "for an eps model the eps-MSE is its plain loss"


def test_the_denoiser_turns_a_v_models_output_into_eps_and_x0():
    s = NoiseSchedule(1000, "cosine")
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.rand((4, 1, 28, 28), generator=g) * 2 - 1, torch.randn((4, 1, 28, 28), generator=g)
    x_t = s.add_noise(x0, noise, 600)
    v = s.get_velocity(x0, noise, 600)
    denoiser = Denoiser(Oracle(v, "v"), s, bf16=False)
    assert denoiser.prediction == "v"
    for w in (0, 1, 3):                       # both passes answer the true v: any guidance gives eps
        pred = denoiser(x_t, 600, torch.arange(4), w)
        torch.testing.assert_close(pred.eps, noise, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(pred.x0, x0, rtol=1e-4, atol=1e-4)
    pred = denoiser(x_t, torch.full((4,), 600), torch.arange(4), 3)             # t as a (B,) tensor
    torch.testing.assert_close(pred.eps, noise, rtol=1e-4, atol=1e-4)
    misread = Denoiser(Oracle(v, "eps"), s, bf16=False)(x_t, 600, torch.arange(4))
    assert not torch.allclose(misread.eps, noise, atol=1e-2), "read as eps, the same output is wrong"
    with pytest.raises(ValueError, match="prediction"):
        UNetConfig(prediction="x0")


def test_a_v_prediction_model_trains_samples_and_round_trips(digits, tmp_path):
    from helpers.pipeline import load_pipeline
    x, y, xv, yv = digits
    tr = Trainer(UNetConfig(base=8, mults=(1, 2), prediction="v"), tiny_config(epochs=6), device="cpu")
    before = tr.val_loss(tr.model, xv, yv)                  # the v-MSE of the zero-initialised output
    hist = tr.fit(x, y, xv, yv, progress=False)
    assert hist["val_loss_raw"][-1] < 0.5 * before
    path = tr.save(tmp_path / "v.pt", slim=True)
    pipe = load_pipeline(path, device="cpu")
    assert pipe.model.config.prediction == "v"
    a, b = (pipe.sample([3, 7], steps=5, sampler="dpm++", generator=torch.Generator().manual_seed(0))
            for _ in range(2))
    assert a.shape == (2, 1, 28, 28) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1


# evaluations at chosen steps, and short runs --------------------------------------------------

@pytest.mark.parametrize("max_minutes", [None, 10], ids=["cosine-lr", "time-budget"])
def test_snapshot_steps_add_evaluations_without_changing_training(tmp_path, max_minutes):
    """fit(snapshot_steps=...) evaluates (val losses, a sample grid, the checkpoint, on_epoch_end) at those
    steps as well as at every epoch's end; the training itself (weights, EMA, optimizer) is the same."""
    tiny8 = UNetConfig(image_size=8, base=8, mults=(1, 2))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand((64, 1, 8, 8), generator=g) * 2 - 1, torch.randint(0, 10, (64,), generator=g)
    cfg = dict(epochs=2, batch_size=16, max_minutes=max_minutes, warmup_steps=2, sample_steps=2, val_size=16,
               seed=3)                                       # 4 steps per epoch, 8 in all
    plain = Trainer(tiny8, TrainConfig(**cfg), device="cpu")
    plain.fit(x, y, x[:16], y[:16], progress=False)
    snap, calls = Trainer(tiny8, TrainConfig(**cfg), device="cpu"), []
    h = snap.fit(x, y, x[:16], y[:16], snapshot_steps=(3, 1, 4, 20), checkpoint=tmp_path / "run.pt",
                 progress=False, on_epoch_end=lambda t: calls.append(t.step))
    assert h["step"] == [1, 3, 4, 8] and plain.history["step"] == [4, 8], "step 4 ends an epoch; 20 never comes"
    assert calls == [1, 3, 4, 8] and h["epoch"] == [0.25, 0.75, 1.0, 2.0]
    assert len(h["val_loss"]) == len(h["val_loss_raw"]) == len(h["samples"]) == len(h["time"]) == 4
    assert snap.step == plain.step == 8 and snap.config == plain.config
    assert_same_state(plain, snap)
    assert [h["val_loss"][k] for k in (2, 3)] == plain.history["val_loss"]
    assert [h["val_loss_raw"][k] for k in (2, 3)] == plain.history["val_loss_raw"]
    assert torch.equal(h["samples"][-1], plain.history["samples"][-1])
    back = Trainer.load(tmp_path / "run.pt", device="cpu")
    assert back.step == 8 and back.config == plain.config and back.history["step"] == [1, 3, 4, 8]
    assert_same_state(plain, back)


def test_short_run_takes_its_step_budget_and_evaluates_every_eval_every_steps(digits):
    """320 digits in batches of 32 end an epoch every 10 steps: a short run evaluates only at multiples
    of eval_every and at the end, and the evaluations do not change the training."""
    x, y, xv, yv = digits
    kw = dict(batch_size=32, lr=3e-3, seed=0, progress=False, device="cpu")
    runs = {(steps, every): short_run(TINY, x, y, xv, yv, steps=steps, eval_every=every, **kw)
            for steps, every in [(25, 7), (21, 7), (25, None)]}
    expected = {(25, 7): [7, 14, 21, 25], (21, 7): [7, 14, 21], (25, None): [25]}
    for (steps, every), tr in runs.items():
        h = tr.history
        assert tr.step == steps and h["step"] == expected[steps, every], f"steps={steps}, eval_every={every}"
        assert len(h["val_loss"]) == len(h["val_loss_raw"]) == len(h["step"]) and not h["samples"]
        assert not tr.model.training and tr.config.sample_steps == 0 and tr.config.val_size == len(xv)
        assert h["val_loss_raw"][-1] == tr.val_loss(tr.model, xv, yv)          # the final raw weights
        assert h["val_loss"][-1] == tr.val_loss(tr.ema, xv, yv)                # and the final EMA
        assert tr.elapsed > 0 and h["time"][-1] == tr.elapsed
    assert_same_state(runs[25, 7], runs[25, None])
    curve = runs[25, 7].history["val_loss_raw"]
    assert curve[-1] < curve[0], "the raw weights' validation loss must come down"


@pytest.mark.parametrize("kw,match", [(dict(), "step budget"), (dict(steps=0), "steps"),
                                      (dict(steps=5, eval_every=0), "eval_every")])
def test_short_run_rejects_a_missing_or_empty_budget(digits, kw, match):
    x, y, xv, yv = digits
    with pytest.raises(ValueError, match=match):
        short_run(TINY, x, y, xv, yv, progress=False, **kw)


# checkpoints ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """A tiny trainer after 15 steps (1.5 epochs), saved to a full checkpoint."""
    x, y, xv, yv = digits
    tr = Trainer(TINY, tiny_config(epochs=3), device="cpu")
    tr.fit(x, y, xv, yv, progress=False, stop_after_steps=15)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    tr.save(path)
    return tr, path


def test_checkpoint_round_trip(trained):
    tr, path = trained
    back = Trainer.load(path, device="cpu")
    assert_same_state(tr, back)
    assert back.step == 15 and back.elapsed == tr.elapsed
    assert back.config == tr.config and back.model.config == tr.model.config
    assert back.history["val_loss"] == tr.history["val_loss"] and back.history["epoch"] == [1.0]
    ckpt = load_checkpoint(path, KIND)
    assert {"config", "ema", "model", "optimizer", "step", "history", "meta"} <= ckpt.keys()
    assert ckpt["meta"]["torch"] == str(torch.__version__)


def test_load_applies_overrides(trained):
    _, path = trained
    assert Trainer.load(path, device="cpu", epochs=7).config.epochs == 7


def test_slim_checkpoint_holds_only_what_sampling_needs(trained, tmp_path):
    tr, _ = trained
    path = tr.save(tmp_path / "slim.pt", slim=True, sampling={"guidance": 2.0})
    ckpt = load_checkpoint(path, KIND)
    assert "model" not in ckpt and "optimizer" not in ckpt and ckpt["sampling"] == {"guidance": 2.0}
    assert os.path.getsize(path) < os.path.getsize(trained[1])
    with pytest.raises(CheckpointError, match="lacks"):
        Trainer.load(path, device="cpu")


def test_resume_matches_the_uninterrupted_run(digits, tmp_path):
    """Interrupted mid-epoch after 13 of 30 steps, saved, loaded and continued == one run of 30 steps."""
    x, y, xv, yv = digits
    whole = Trainer(TINY, tiny_config(epochs=3), device="cpu")
    whole.fit(x, y, xv, yv, progress=False)

    first = Trainer(TINY, tiny_config(epochs=3), device="cpu")
    first.fit(x, y, xv, yv, progress=False, stop_after_steps=13)
    assert first.step == 13
    first.save(tmp_path / "half.pt")
    del first
    resumed = Trainer.load(tmp_path / "half.pt", device="cpu")
    resumed.fit(x, y, xv, yv, progress=False)

    assert whole.step == resumed.step == 30
    assert_same_state(whole, resumed)
    assert resumed.history["step"] == whole.history["step"] == [10, 20, 30]
    assert resumed.history["val_loss"] == whole.history["val_loss"]


def test_atomic_save_leaves_no_temp_files(trained, tmp_path):
    tr, _ = trained
    tr.save(tmp_path / "a.pt")
    tr.save(tmp_path / "a.pt")                          # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


def test_a_crash_while_saving_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    tr, _ = trained
    path = tr.save(tmp_path / "a.pt")
    good = path.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        tr.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
    assert Trainer.load(path, device="cpu").step == tr.step


# damaged and foreign files --------------------------------------------------------------------

def test_truncated_checkpoint_raises(trained, tmp_path):
    _, path = trained
    bad = tmp_path / "truncated.pt"
    data = path.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        Trainer.load(bad, device="cpu")


def test_random_bytes_raise(tmp_path):
    bad = tmp_path / "noise.pt"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="noise.pt"):
        Trainer.load(bad, device="cpu")


def test_empty_file_raises(tmp_path):
    bad = tmp_path / "empty.pt"
    bad.write_bytes(b"")
    with pytest.raises(CheckpointError):
        Trainer.load(bad, device="cpu")


def test_plain_state_dict_is_foreign(trained, tmp_path):
    tr, _ = trained
    torch.save(tr.model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not a 'diffusion-course/ddpm' checkpoint"):
        Trainer.load(tmp_path / "weights.pt", device="cpu")


def test_other_kinds_and_non_dicts_are_foreign(tmp_path):
    torch.save({"kind": "diffusion-course/classifier", "config": {}}, tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="classifier"):
        Trainer.load(tmp_path / "clf.pt", device="cpu")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list"):
        Trainer.load(tmp_path / "list.pt", device="cpu")


def test_pickled_code_is_refused(tmp_path):
    """weights_only=True: a checkpoint that needs arbitrary classes to unpickle is not loaded."""
    torch.save({"kind": KIND, "config": TrainConfig()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="pickle.pt"):
        Trainer.load(tmp_path / "pickle.pt", device="cpu")


def test_missing_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        Trainer.load(tmp_path / "nowhere.pt", device="cpu")
