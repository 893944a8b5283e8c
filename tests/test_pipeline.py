"""The public entry point: helpers.load_pipeline() and Pipeline.sample.

Every test runs twice: on a tiny checkpoint made here (always) and on the shipped
data/ddpm_mnist.pt (skipped until it exists).
"""
import pytest
import torch

import helpers
from helpers.pipeline import DEFAULT_CHECKPOINT, Pipeline, check_labels, load_pipeline
from helpers.train import Trainer, TrainConfig
from helpers.unet import UNetConfig
from helpers.checkpoint import CheckpointError

STEPS = 4           # enough to exercise every code path; quality is not the point here


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A slim checkpoint of an untrained tiny U-Net whose output layer is randomised (so labels matter),
    recommending guidance 1.5."""
    tr = Trainer(UNetConfig(base=8, mults=(1, 2)), TrainConfig(sample_steps=0), device="cpu")
    with torch.no_grad():
        for p in tr.ema.out[-1].parameters():
            p.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    return tr.save(tmp_path_factory.mktemp("pipe") / "tiny.pt", slim=True, sampling={"guidance": 1.5})


@pytest.fixture(scope="module", params=["tiny", "shipped"])
def pipe(request, tiny_checkpoint) -> Pipeline:
    if request.param == "shipped":
        if not DEFAULT_CHECKPOINT.is_file():
            pytest.skip(f"the shipped model {DEFAULT_CHECKPOINT} does not exist yet (data/train_model.py makes it)")
        return helpers.load_pipeline()
    return load_pipeline(tiny_checkpoint, device="cpu")


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


# output ---------------------------------------------------------------------------------------

def test_output_shape_range_and_device(pipe):
    x = pipe.sample([0, 1, 9], steps=STEPS, generator=seeded())
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert x.min() >= 0 and x.max() <= 1
    assert x.std() > 0.01, "samples must not be constant images"


def test_seeded_generator_gives_identical_samples(pipe):
    a = pipe.sample([3, 5], steps=STEPS, generator=seeded(0))
    b = pipe.sample([3, 5], steps=STEPS, generator=seeded(0))
    c = pipe.sample([3, 5], steps=STEPS, generator=seeded(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("sampler", ["ddpm", "dpm++"])
def test_stochastic_and_multistep_samplers_are_deterministic_too(pipe, sampler):
    a = pipe.sample([2, 7], steps=STEPS, sampler=sampler, generator=seeded(0))
    assert torch.equal(a, pipe.sample([2, 7], steps=STEPS, sampler=sampler, generator=seeded(0)))
    assert a.shape == (2, 1, 28, 28) and a.min() >= 0 and a.max() <= 1


def test_labels_as_list_tensor_or_int(pipe):
    a = pipe.sample([4, 2], steps=STEPS, generator=seeded())
    b = pipe.sample(torch.tensor([4, 2]), steps=STEPS, generator=seeded())
    c = pipe.sample(torch.tensor([4, 2], dtype=torch.int32), steps=STEPS, generator=seeded())
    assert torch.equal(a, b) and torch.equal(a, c)
    assert pipe.sample(4, steps=STEPS, generator=seeded()).shape == (1, 1, 28, 28)


def test_labels_change_the_samples(pipe):
    x_T = pipe.noise(1, seeded())
    a = pipe.sample([1], steps=STEPS, x_T=x_T)
    b = pipe.sample([8], steps=STEPS, x_T=x_T)
    assert (a - b).abs().max() > 1e-3


def test_guidance_none_means_the_checkpoints_recommendation(pipe):
    x_T = pipe.noise(2, seeded())
    a = pipe.sample([0, 6], steps=STEPS, x_T=x_T)
    b = pipe.sample([0, 6], steps=STEPS, x_T=x_T, guidance=pipe.guidance)
    assert torch.equal(a, b)
    assert pipe.guidance >= 1
    if pipe.guidance != 1:
        c = pipe.sample([0, 6], steps=STEPS, x_T=x_T, guidance=1.0)
        assert not torch.equal(a, c)


def test_tiny_checkpoint_recommends_its_guidance(tiny_checkpoint):
    pipe = load_pipeline(tiny_checkpoint)
    assert (pipe.guidance, pipe.steps, pipe.sampler) == (1.5, 50, "ddim")     # steps and sampler: the defaults


def test_steps_and_sampler_none_mean_the_checkpoints_recommendation(tmp_path):
    """A checkpoint that recommends DPM-Solver++ in 3 steps without guidance (as the distilled one
    recommends its own) samples that way when not told; asked otherwise, it does as asked."""
    tr = Trainer(UNetConfig(base=8, mults=(1, 2)), TrainConfig(sample_steps=0), device="cpu")
    with torch.no_grad():
        for p in tr.ema.out[-1].parameters():
            p.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    path = tr.save(tmp_path / "few.pt", slim=True, sampling={"guidance": 1.0, "sampler": "dpm++", "steps": 3})
    pipe = load_pipeline(path)
    x_T = pipe.noise(3, seeded())
    told = pipe.sample([1, 2, 3], steps=3, sampler="dpm++", guidance=1.0, x_T=x_T)
    assert torch.equal(pipe.sample([1, 2, 3], x_T=x_T), told)
    assert not torch.equal(pipe.sample([1, 2, 3], steps=5, x_T=x_T), told)
    assert not torch.equal(pipe.sample([1, 2, 3], sampler="ddim", x_T=x_T), told)
    assert len(pipe.trajectory([1], x_T=x_T[:1])[1].x0) == 3


def test_a_pipeline_with_a_guide_autoguides(tiny_checkpoint):
    """Pipeline(guide=...) hands the weaker model to its Denoiser: at w = 1 it is unused, at w = 2 it
    replaces the unconditional branch (so the digits differ from classifier-free guidance's)."""
    base = load_pipeline(tiny_checkpoint)
    guide = load_pipeline(tiny_checkpoint).model
    with torch.no_grad():
        for p in guide.out[-1].parameters():
            p.mul_(0.5)
    auto = Pipeline(base.model, base.schedule, 2.0, guide=guide)
    x_T = base.noise(2, seeded())
    assert torch.equal(auto.sample([4, 5], steps=STEPS, guidance=1.0, x_T=x_T),
                       base.sample([4, 5], steps=STEPS, guidance=1.0, x_T=x_T))
    assert not torch.equal(auto.sample([4, 5], steps=STEPS, x_T=x_T), base.sample([4, 5], steps=STEPS, guidance=2.0, x_T=x_T))
    assert auto.denoiser().guide is guide


def test_batches_give_the_same_images(pipe):
    x_T = pipe.noise(5, seeded())
    a = pipe.sample([0, 1, 2, 3, 4], steps=STEPS, x_T=x_T)
    b = pipe.sample([0, 1, 2, 3, 4], steps=STEPS, x_T=x_T, batch_size=2)
    torch.testing.assert_close(a, b, rtol=0, atol=2e-2)        # bf16 autocast may round per batch size


def test_trajectory(pipe):
    x, traj = pipe.trajectory([5, 6, 7], steps=STEPS, generator=seeded())
    xs, x0s = traj.stack()
    assert xs.shape == (STEPS + 1, 3, 1, 28, 28) and x0s.shape == (STEPS, 3, 1, 28, 28)
    assert traj.timesteps.tolist()[0] == pipe.schedule.T - 1 and len(traj.timesteps) == STEPS
    torch.testing.assert_close(((xs[-1] + 1) / 2).clamp(0, 1), x)
    same = pipe.sample([5, 6, 7], steps=STEPS, generator=seeded())   # sample() is the trajectory's end
    torch.testing.assert_close(same, x, rtol=0, atol=1e-6)


# bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels,match", [([3, 10], "10"), ([-1], "-1"), (torch.tensor([12, 2]), "12"),
                                          ([1.0, 2.5], "float"), (torch.tensor([2.0]), "float"),
                                          ([[1, 2], [3, 4]], "shape"), ([], "non-empty")])
def test_bad_labels_raise_value_error_naming_them(pipe, labels, match):
    with pytest.raises(ValueError, match=match):
        pipe.sample(labels, steps=STEPS)


def test_check_labels_accepts_every_digit():
    assert check_labels(list(range(10))).tolist() == list(range(10))
    assert check_labels(torch.arange(10, dtype=torch.int16)).dtype == torch.long


@pytest.mark.parametrize("kw,match", [(dict(steps=0), "1..1000"), (dict(sampler="euler"), "euler"),
                                      (dict(x_T=torch.zeros(2, 1, 32, 32)), "x_T must have shape")])
def test_bad_sampling_options_raise(pipe, kw, match):
    with pytest.raises(ValueError, match=match):
        pipe.sample([1, 2], **{"steps": STEPS, **kw})


# loading --------------------------------------------------------------------------------------

def test_missing_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.pt"):
        load_pipeline(tmp_path / "gone.pt")


def test_truncated_checkpoint_raises(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_pipeline(tmp_path / "cut.pt")


def test_foreign_checkpoints_raise(tmp_path, tiny_checkpoint):
    pipe = load_pipeline(tiny_checkpoint)
    torch.save(pipe.model.state_dict(), tmp_path / "state_dict.pt")
    with pytest.raises(CheckpointError, match="not a 'diffusion-course/ddpm' checkpoint"):
        load_pipeline(tmp_path / "state_dict.pt")
    torch.save({"kind": "diffusion-course/classifier", "config": {}, "state": {}}, tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="classifier"):
        load_pipeline(tmp_path / "clf.pt")


def test_load_pipeline_on_an_explicit_cpu_device(tiny_checkpoint):
    p = load_pipeline(str(tiny_checkpoint), device="cpu")
    assert p.device.type == "cpu" and p.image_shape == (1, 28, 28) and not p.model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_samples_come_back_on_the_cpu_from_a_gpu_model(tiny_checkpoint):
    p = load_pipeline(tiny_checkpoint, device="cuda")
    x = p.sample([1, 2], steps=STEPS, generator=seeded())
    assert p.device.type == "cuda" and x.device.type == "cpu"
    cpu = load_pipeline(tiny_checkpoint, device="cpu").sample([1, 2], steps=STEPS, generator=seeded())
    torch.testing.assert_close(x, cpu, rtol=0, atol=5e-2)      # same x_T: noise is drawn on the CPU


# the shipped model ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"the shipped model {DEFAULT_CHECKPOINT} does not exist yet (data/train_model.py makes it)")
    return helpers.load_pipeline()


def test_shipped_checkpoint_is_small_and_documented(shipped):
    assert DEFAULT_CHECKPOINT.stat().st_size < 10 * 2 ** 20, "the shipped model must stay under 10 MB"
    assert shipped.meta.get("machine"), "the checkpoint records the machine it was trained on"
    assert shipped.history.get("val_loss"), "the checkpoint carries its training history"


def test_shipped_checkpoints_by_name():
    """load_pipeline(None / "default") is data/ddpm_mnist.pt; "fast" is its distilled version, which
    recommends its own few steps without guidance; a name that is neither is read as a path."""
    from helpers.pipeline import CHECKPOINTS
    assert CHECKPOINTS["default"] == DEFAULT_CHECKPOINT
    with pytest.raises(FileNotFoundError, match="quick"):
        load_pipeline("quick")
    if not CHECKPOINTS["fast"].is_file():
        pytest.skip(f"the distilled model {CHECKPOINTS['fast']} does not exist yet (data/distill_model.py makes it)")
    fast = load_pipeline("fast")
    assert (fast.guidance, fast.sampler) == (1.0, "ddim") and fast.steps <= 4
    assert CHECKPOINTS["fast"].stat().st_size < 10 * 2 ** 20


def test_shipped_model_draws_the_requested_digits(shipped):
    """A smoke test of quality (the full 1000-digit bar belongs to the benchmark): 20 digits, 20 steps."""
    from helpers.classifier import CLASSIFIER_PATH, load_classifier, predict
    if not CLASSIFIER_PATH.is_file():
        pytest.skip(f"the classifier {CLASSIFIER_PATH} does not exist yet")
    labels = torch.arange(10).repeat(2)
    x = shipped.sample(labels, steps=20, generator=seeded())
    probs, _ = predict(load_classifier(device="cpu"), x)
    acc = (probs.argmax(1) == labels).float().mean().item()
    assert acc >= 0.9, f"only {acc:.0%} of the shipped model's digits are classified as requested"
