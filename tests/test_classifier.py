"""helpers.classifier: the shipped judge reaches its accuracy bar; inputs are checked."""
import pytest
import torch

from helpers.checkpoint import CLASSIFIER, DIFFUSION, CheckpointError
from helpers.classifier import CLASSIFIER_PATH, FEATURE_DIM, Classifier, load_classifier, predict, save_classifier
from helpers.data import mnist_tensors


@pytest.fixture(scope="module")
def shipped():
    if not CLASSIFIER_PATH.is_file():
        pytest.skip(f"the shipped classifier {CLASSIFIER_PATH} does not exist yet (data/train_classifier.py)")
    return load_classifier(device="cpu")


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return Classifier().eval()


def test_shipped_classifier_accuracy_on_the_test_split(shipped):
    x, y = mnist_tensors("test")
    probs, feats = predict(shipped, (x + 1) / 2)
    acc = (probs.argmax(1) == y).float().mean().item()
    assert acc >= 0.993, f"test accuracy {acc:.4f} is below the 99.3 % the course relies on"
    assert feats.shape == (10000, FEATURE_DIM)


def test_shipped_classifier_is_in_eval_mode_and_deterministic(shipped):
    x = (mnist_tensors("val")[0][:64] + 1) / 2
    assert not shipped.training
    a, b = predict(shipped, x)[0], predict(shipped, x)[0]
    assert torch.equal(a, b)


def test_predict_returns_probabilities_and_features(untrained):
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    probs, feats = predict(untrained, x, batch_size=3)               # several batches
    assert probs.shape == (7, 10) and feats.shape == (7, FEATURE_DIM)
    torch.testing.assert_close(probs.sum(1), torch.ones(7))
    assert (probs >= 0).all() and (feats >= 0).all(), "features come after a ReLU"
    torch.testing.assert_close(probs, predict(untrained, x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 3, 28, 28), (4, 1, 32, 32), (28, 28), (1, 4, 1, 28, 28)])
def test_wrong_input_shapes_raise(untrained, shape):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        predict(untrained, torch.zeros(shape))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        untrained(torch.zeros(shape))


def test_loading_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_classifier(tmp_path / "none.pt")
    torch.save({"kind": DIFFUSION, "config": {}}, tmp_path / "ddpm.pt")
    with pytest.raises(CheckpointError, match=CLASSIFIER):
        load_classifier(tmp_path / "ddpm.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        load_classifier(tmp_path / "junk.pt")


def test_save_and_load_round_trip(untrained, tmp_path):
    path = save_classifier(untrained, tmp_path / "clf.pt", note="test")
    assert torch.load(path, weights_only=True)["kind"] == CLASSIFIER
    loaded = load_classifier(path, device="cpu")
    assert loaded.meta == {"note": "test"} and not loaded.training
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(predict(loaded, x)[0], predict(untrained, x)[0])
