"""Other data: the 32x32 RGB path end to end, and the offline FashionMNIST / CIFAR-10 loaders."""
import pytest
import torch

from helpers import Trainer, TrainConfig, UNetConfig, load_pipeline
from helpers import data as fashion


def test_coloured_discs_are_labelled_by_colour():
    x, y = fashion.coloured_discs(40, size=32, seed=0)
    assert x.shape == (40, 3, 32, 32) and x.min() == -1 and x.max() == 1
    x01 = (x + 1) / 2
    for i in range(5):
        lit = x01[i].amax(0) > 0                                 # the disc: any channel on
        colours = x01[i][:, lit].T.unique(dim=0)
        assert torch.equal(colours, fashion.PALETTE[y[i]][None])
    assert torch.equal(x, fashion.coloured_discs(40, size=32, seed=0)[0])
    assert torch.equal(fashion.disc_colour_class(x01), y)
    assert fashion.disc_colour_class(x01.roll(1, dims=1)).ne(y).any()          # swapped channels: other colours


def test_disc_colour_is_read_from_the_disc_not_a_hazy_background():
    x, y = fashion.coloured_discs(200, size=32, seed=1)
    x01 = (x + 1) / 2
    haze = 0.4 * torch.rand(200, 3, 1, 1, generator=torch.Generator().manual_seed(0))   # a coloured cast
    hazy = torch.where(x01.amax(1, keepdim=True) > 0, x01, haze.expand_as(x01))
    assert torch.equal(fashion.disc_colour_class(hazy), y)
    assert fashion.disc_colour_class(hazy, top=0.5).ne(y).any()    # half the image: the haze counts
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        fashion.disc_colour_class(x01[:, :1])


def test_rgb_32_path_trains_samples_saves_and_loads(tmp_path):
    x, y = fashion.coloured_discs(96, size=32, seed=0)
    cfg = UNetConfig(image_size=32, in_channels=3, base=8, mults=(1, 2), attn_resolutions=(16,))
    trainer = Trainer(cfg, TrainConfig(epochs=1, batch_size=16, max_steps=4, warmup_steps=2, sample_steps=2,
                                       val_size=32))
    history = trainer.fit(x, y, x[:32], y[:32], progress=False)
    assert trainer.step == 4 and all(torch.isfinite(torch.tensor(history["val_loss"])))
    assert history["samples"][-1].shape == (40, 3, 32, 32) and history["samples"][-1].dtype == torch.uint8

    path = trainer.save(tmp_path / "rgb.pt", slim=True)
    pipe = load_pipeline(path)
    assert pipe.image_shape == (3, 32, 32)
    g = lambda: torch.Generator().manual_seed(0)
    a = pipe.sample([0, 3, 9], steps=3, generator=g())
    assert a.shape == (3, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, pipe.sample([0, 3, 9], steps=3, generator=g()))
    for k, v in trainer.ema.state_dict().items():
        assert torch.equal(pipe.model.state_dict()[k], v.float())

    trainer.save(tmp_path / "full.pt")                            # resume the RGB run for one more step
    resumed = Trainer.load(tmp_path / "full.pt", max_steps=5)
    resumed.fit(x, y, progress=False)
    assert resumed.step == 5


def test_bad_dataset_names_and_splits():
    with pytest.raises(ValueError, match="unknown dataset"):
        fashion.load_dataset("svhn")
    with pytest.raises(ValueError, match="'train' and 'test'"):
        fashion.load_dataset("fashion", "val")
    x, y = fashion.load_dataset("mnist", "val")
    assert x.shape == (5000, 1, 28, 28) and len(y) == 5000


def test_cifar10_without_download_is_reported_not_fetched(tmp_path):
    with pytest.raises(fashion.DatasetUnavailable, match="CIFAR-10 is not in .*download=True"):
        fashion.load_dataset("cifar10", "test", root=tmp_path)
    assert not any(tmp_path.iterdir())                            # nothing was downloaded


@pytest.mark.skipif(not (fashion.DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's FashionMNIST is not installed ({fashion.APT_INSTALL})")
def test_fashion_mnist_loads_offline_from_the_debian_package(tmp_path):
    x, y = fashion.load_dataset("fashion", "test", root=tmp_path)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1 and x.max() == 1
    assert torch.bincount(y, minlength=10).eq(1000).all()
    raw = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(fashion.FASHION_FILES)   # decompressed, no .gz


def test_missing_debian_package_names_the_apt_line(tmp_path):
    with pytest.raises(fashion.DatasetUnavailable, match="apt-get install -y dataset-fashion-mnist"):
        fashion.install_debian_fashion(tmp_path, source=tmp_path / "nowhere")


def test_short_run_trains_a_unet_on_rgb_discs():
    from helpers.train import short_run
    from helpers.unet import UNetConfig
    x, y = fashion.coloured_discs(48, size=16, seed=1)
    trainer = short_run(UNetConfig(image_size=16, in_channels=3, base=8, mults=(1, 2)), x, y, x[:16], y[:16],
                        steps=3, batch_size=16, progress=False)
    cfg = trainer.model.config
    assert (cfg.image_size, cfg.in_channels, trainer.step) == (16, 3, 3)
    assert len(trainer.history["val_loss"]) == 1
    with pytest.raises(ValueError, match="budget"):
        short_run(UNetConfig(image_size=16, in_channels=3), x, y)
