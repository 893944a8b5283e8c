"""helpers.unet: shapes, conditioning on t and on the class label (null label included), skips."""
import pytest
import torch
from torch import nn

from helpers.unet import Attention, UNet, UNetConfig, config_dict, count_parameters

TINY = dict(base=8, mults=(1, 2))


def perturb_output_layer(model: UNet, seed: int = 0) -> UNet:
    """The last conv starts at zero (eps_hat = 0 for every input); give it random weights so the
    output shows what the rest of the network computes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.out[-1].parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def inputs(cfg: UNetConfig, B: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((B, cfg.in_channels, cfg.image_size, cfg.image_size), generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    y = torch.randint(0, cfg.num_classes, (B,), generator=g)
    return x, t, y


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return perturb_output_layer(UNet(UNetConfig(**TINY)))


# shapes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,channels,mults", [(28, 1, (1, 2)), (28, 1, (1, 2, 2)), (32, 3, (1, 2, 2))])
@pytest.mark.parametrize("attn", [False, True])
def test_output_shape_matches_input(size, channels, mults, attn):
    attn_res = (size // 2 ** (len(mults) - 1),) if attn else ()
    cfg = UNetConfig(image_size=size, in_channels=channels, base=8, mults=mults, blocks=2,
                     attn_resolutions=attn_res)
    model = UNet(cfg)
    n_attn = sum(isinstance(m, Attention) for m in model.modules())
    assert (n_attn > 0) == attn, "attn_resolutions must add (or not add) self-attention"
    x, t, y = inputs(cfg)
    eps = model(x, t, y)
    assert eps.shape == x.shape and eps.dtype == torch.float32
    assert torch.count_nonzero(eps) == 0, "the zero-initialised output layer must give eps_hat = 0 at first"
    eps = perturb_output_layer(model)(x, t, y)
    assert eps.shape == x.shape and torch.isfinite(eps).all() and eps.abs().sum() > 0


def test_attention_at_full_resolution_and_at_the_bottleneck():
    cfg = UNetConfig(base=8, mults=(1, 2), attn_resolutions=(28, 14))
    model = perturb_output_layer(UNet(cfg))
    assert sum(isinstance(m, Attention) for m in model.modules()) >= 3
    x, t, y = inputs(cfg)
    assert model(x, t, y).shape == x.shape


def test_more_blocks_mean_more_parameters():
    small, big = UNet(UNetConfig(**TINY, blocks=1)), UNet(UNetConfig(**TINY, blocks=2))
    assert count_parameters(big) > count_parameters(small) > 0


def test_the_default_model_is_small_enough_for_a_laptop():
    assert count_parameters(UNet()) < 5_000_000


def test_config_round_trips_through_a_plain_dict():
    cfg = UNetConfig(base=8, mults=(1, 2), attn_resolutions=(14,), skips=False)
    d = config_dict(cfg)
    assert all(not isinstance(v, tuple) for v in d.values())
    assert UNet(d).config == cfg


def test_image_size_must_divide_by_the_downsampling():
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(image_size=30, mults=(1, 2, 2))


# conditioning ---------------------------------------------------------------------------------

def test_different_labels_give_different_outputs(tiny):
    x, t, _ = inputs(tiny.config, B=1)
    with torch.no_grad():
        outs = torch.cat([tiny(x, t, torch.tensor([k])) for k in range(11)])   # 0..9 and null (10)
    for i in range(11):
        for j in range(i):
            assert (outs[i] - outs[j]).abs().max() > 1e-4, f"labels {i} and {j} give the same eps_hat"


def test_null_label_works_and_out_of_range_labels_fail(tiny):
    x, t, y = inputs(tiny.config)
    null = torch.full_like(y, tiny.null_label)
    assert tiny.null_label == tiny.config.num_classes == 10
    assert torch.isfinite(tiny(x, t, null)).all()
    for bad in (11, -1):
        with pytest.raises(ValueError, match=str(bad)):
            tiny(x, t, torch.full_like(y, bad))


def test_timestep_changes_the_output(tiny):
    x, _, y = inputs(tiny.config)
    with torch.no_grad():
        a, b = tiny(x, torch.full((3,), 10), y), tiny(x, torch.full((3,), 900), y)
    assert (a - b).abs().max() > 1e-4


def test_batch_items_are_independent(tiny):
    """Changing one image of the batch leaves the others' outputs alone (no batch statistics)."""
    x, t, y = inputs(tiny.config)
    x2 = x.clone()
    x2[0] = -x2[0]
    with torch.no_grad():
        a, b = tiny(x, t, y), tiny(x2, t, y)
    torch.testing.assert_close(a[1:], b[1:], rtol=1e-5, atol=1e-6)
    assert (a[0] - b[0]).abs().max() > 1e-4


def test_scalar_t_and_y_are_broadcast(tiny):
    x, _, _ = inputs(tiny.config)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x, 500, 3), tiny(x, torch.full((3,), 500), torch.full((3,), 3)))


def test_a_few_training_steps_make_the_label_matter():
    """With the zero-initialised output layer untouched, training alone must create label dependence."""
    torch.manual_seed(0)
    cfg = UNetConfig(**TINY)
    model = UNet(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, t, y = inputs(cfg, B=8)
    for _ in range(5):
        loss = (model(x, t, y) - x).pow(2).mean()           # any target: it only has to move the weights
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        a, b = model(x, t, torch.zeros_like(y)), model(x, t, torch.full_like(y, 7))
    assert (a - b).abs().max() > 1e-4


# bad inputs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 3, 28, 28), (3, 1, 32, 32), (3, 28, 28), (1, 3, 1, 28, 28)])
def test_wrong_image_shape_raises(tiny, shape):
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        tiny(torch.zeros(shape), torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("which", ["t", "y"])
def test_wrong_t_or_y_length_raises(tiny, which):
    x, t, y = inputs(tiny.config)
    t, y = (t[:2], y) if which == "t" else (t, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        tiny(x, t, y)


def test_float_labels_raise_a_clear_error(tiny):
    x, t, _ = inputs(tiny.config)
    with pytest.raises(ValueError, match="label"):
        tiny(x, t, torch.tensor([1.0, 2.0, 3.5]))


# skip connections -----------------------------------------------------------------------------

def decoder_inputs_and_skips(model: UNet, x, t, y):
    """Run the model once; return, per decoder level, (its input, the encoder feature map of that level)."""
    enc, dec, hooks = [], [], []
    for level in model.down:
        if isinstance(level, nn.ModuleList):
            hooks.append(level[-1].register_forward_hook(lambda m, a, out: enc.append(out)))
    for level in model.up:
        if isinstance(level, nn.ModuleList):
            hooks.append(level[0].register_forward_pre_hook(lambda m, a: dec.append(a[0])))
    with torch.no_grad():
        model(x, t, y)
    for h in hooks:
        h.remove()
    return list(zip(dec, reversed(enc)))


@pytest.mark.parametrize("skips", [True, False])
def test_skips_false_feeds_zeros_instead_of_encoder_features(skips):
    torch.manual_seed(0)
    cfg = UNetConfig(**TINY, blocks=2, skips=skips)
    model = perturb_output_layer(UNet(cfg))
    x, t, y = inputs(cfg)
    pairs = decoder_inputs_and_skips(model, x, t, y)
    assert len(pairs) == 4
    for dec_in, skip in pairs:
        received = dec_in[:, -skip.shape[1]:]                    # the concatenated skip channels
        if skips:
            torch.testing.assert_close(received, skip)
        else:
            assert torch.count_nonzero(received) == 0
    assert model(x, t, y).shape == x.shape


def test_skips_false_changes_the_output_with_the_same_weights(tiny):
    no_skips = UNet(UNetConfig(**TINY, skips=False))
    no_skips.load_state_dict(tiny.state_dict())                 # same parameters, only the wiring differs
    x, t, y = inputs(tiny.config)
    with torch.no_grad():
        assert (tiny(x, t, y) - no_skips.eval()(x, t, y)).abs().max() > 1e-4
