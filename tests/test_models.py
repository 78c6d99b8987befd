"""dlbook.models: shapes, parameter counts by formula, FLOPs vs torch's counter, training, augmentation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dlbook.layers import Conv2d
from dlbook.models import MLP, LeNet, RandomCropFlip, ResidualBlock, ResNetMini, count_parameters, layer_flops


def conv_params(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def linear_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def resnet_params(in_channels: int, width: int, blocks: tuple[int, ...], classes: int) -> int:
    """Parameters of ResNetMini by formula: convolutions without bias, batch norm has 2 per channel."""
    total = conv_params(in_channels, width, 3, bias=False) + 2 * width  # stem
    channels = width
    for stage, count in enumerate(blocks):
        out = width * 2**stage
        for block in range(count):
            c_in = channels if block == 0 else out
            total += conv_params(c_in, out, 3, False) + 2 * out + conv_params(out, out, 3, False) + 2 * out
            if c_in != out or (block == 0 and stage > 0):  # projection shortcut
                total += conv_params(c_in, out, 1, False) + 2 * out
        channels = out
    return total + linear_params(channels, classes)


def test_lenet_shapes_and_parameter_count():
    model = LeNet()
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    expected = (conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(16 * 5 * 5, 120)
                + linear_params(120, 84) + linear_params(84, 10))  # fmt: skip
    assert count_parameters(model) == expected == 61_706  # the figure usually quoted for LeNet-5
    assert LeNet(num_classes=3, in_channels=3)(torch.randn(2, 3, 28, 28)).shape == (2, 3)


def test_lenet_rejects_other_sizes():
    with pytest.raises(ValueError, match=r"needs x: \(batch, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        LeNet()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got \(1, 28, 28\)"):
        LeNet()(torch.randn(1, 28, 28))


@pytest.mark.parametrize(
    "width, blocks, size, stem_stride", [(8, (1, 1, 1), 28, 1), (4, (2, 1), 17, 1), (6, (1, 2, 1, 1), 32, 2)]
)
def test_resnet_shapes_and_parameter_count(width, blocks, size, stem_stride):
    model = ResNetMini(num_classes=7, in_channels=2, width=width, blocks=blocks, stem_stride=stem_stride)
    assert model(torch.randn(3, 2, size, size)).shape == (3, 7)
    assert count_parameters(model) == resnet_params(2, width, blocks, 7)
    side = (size - 1) // stem_stride + 1  # the output-size formula for a 3x3 kernel with padding 1
    x = model.stem(torch.randn(1, 2, size, size))
    for stage, block_stage in enumerate(model.stages):
        x = block_stage(x)
        side = side if stage == 0 else (side - 1) // 2 + 1
        assert x.shape == (1, width * 2**stage, side, side)


def test_resnet_errors():
    with pytest.raises(ValueError, match=r"needs x: \(batch, 1, h, w\), got \(2, 3, 28, 28\)"):
        ResNetMini()(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="width must be an int >= 1"):
        ResNetMini(width=0)
    with pytest.raises(ValueError, match="blocks counts >= 1"):
        ResNetMini(blocks=(1, 0))


def test_residual_block_shortcuts():
    """The shortcut is the identity when the shape stays, a strided 1x1 convolution when it changes."""
    x = torch.randn(2, 4, 6, 6)
    same = ResidualBlock(4, 4)
    assert isinstance(same.shortcut, nn.Identity)
    branch = same.bn2(same.conv2(F.relu(same.bn1(same.conv1(x)))))
    torch.testing.assert_close(same(x), F.relu(x + branch))
    down = ResidualBlock(4, 8, stride=2)
    assert down(x).shape == (2, 8, 3, 3) and down.shortcut[0].stride == (2, 2)
    branch = down.bn2(down.conv2(F.relu(down.bn1(down.conv1(x)))))
    torch.testing.assert_close(down(x), F.relu(down.shortcut(x) + branch))


def test_residual_false_is_the_same_network_without_shortcuts():
    """residual=False keeps every layer of the main path and drops the shortcut (identity or projection)."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    for c_out, stride in [(4, 1), (8, 2)]:
        torch.manual_seed(1)
        with_shortcut = ResidualBlock(4, c_out, stride=stride)
        torch.manual_seed(1)
        plain = ResidualBlock(4, c_out, stride=stride, residual=False)
        main = {k: v for k, v in with_shortcut.state_dict().items() if not k.startswith("shortcut")}
        assert plain.state_dict().keys() == main.keys()
        for key, value in plain.state_dict().items():
            torch.testing.assert_close(value, main[key])
        branch = plain.bn2(plain.conv2(F.relu(plain.bn1(plain.conv1(x)))))
        torch.testing.assert_close(plain(x), F.relu(branch))
        assert not torch.allclose(plain(x), with_shortcut(x))
        assert "residual=False" in repr(plain) and "residual=False" not in repr(with_shortcut)
    one_stage = dict(width=4, blocks=(3,))  # identity shortcuts only: the same parameters either way
    assert count_parameters(ResNetMini(**one_stage, residual=False)) == count_parameters(ResNetMini(**one_stage))
    deep, shallow = ResNetMini(width=4, blocks=(2, 2)), ResNetMini(width=4, blocks=(2, 2), residual=False)
    assert count_parameters(shallow) == count_parameters(deep) - (conv_params(4, 8, 1, bias=False) + 2 * 8)
    assert shallow(torch.randn(2, 1, 12, 12)).shape == (2, 10)


def test_resnet_runs_channels_last_and_in_bfloat16():
    torch.manual_seed(0)
    model = ResNetMini(width=8).eval()
    x = torch.randn(4, 1, 28, 28)
    expected = model(x)
    last = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(last(x.to(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), expected, rtol=0.1, atol=0.1)


@pytest.mark.parametrize("make", [LeNet, lambda: ResNetMini(width=4), lambda: nn.Sequential(RandomCropFlip(), LeNet())])
def test_a_gradient_step_reduces_the_loss(make):
    torch.manual_seed(0)
    model = make().train()
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same augmentation draws both times; batch norm uses the batch's statistics
        return F.cross_entropy(model(x), y)

    before = loss()
    before.backward()
    torch.optim.SGD(model.parameters(), lr=0.05).step()
    after = loss()
    assert after < before, (after.item(), before.item())


def test_lenet_flops_by_formula():
    flops = layer_flops(LeNet(), torch.randn(1, 1, 28, 28))
    by_hand = {  # 2 FLOPs per multiply-add; one dot product of length in * k * k per output value
        "features.0": 2 * (1 * 5 * 5) * (6 * 28 * 28),
        "features.3": 2 * (6 * 5 * 5) * (16 * 10 * 10),
        "classifier.1": 2 * 400 * 120,
        "classifier.3": 2 * 120 * 84,
        "classifier.5": 2 * 84 * 10,
    }
    assert flops == by_hand


@pytest.mark.parametrize(
    "make",
    [LeNet, lambda: ResNetMini(width=4, blocks=(2, 1)),
     lambda: nn.Sequential(Conv2d(1, 3, 3, stride=2, dilation=2), nn.Flatten(), nn.Linear(3 * 12 * 12, 5))],
)  # fmt: skip
def test_layer_flops_agree_with_torch_flop_counter(make):
    model, x = make().train(), torch.randn(2, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model.eval()(x)
    model.train()
    assert sum(layer_flops(model, x).values()) == counter.get_total_flops()
    assert model.training, "layer_flops leaves the model in the mode it found"
    assert not any(m._forward_hooks for m in model.modules()), "and removes its hooks"


def test_random_crop_flip_is_a_shift_and_maybe_a_mirror():
    torch.manual_seed(0)
    x = torch.rand(200, 2, 6, 5)
    layer = RandomCropFlip(padding=2)
    assert layer.eval()(x) is x
    out = layer.train()(x)
    padded = F.pad(x, (2, 2, 2, 2))
    seen = set()
    candidates = [(dy, dx, flip) for dy in range(5) for dx in range(5) for flip in (False, True)]
    for i in range(len(x)):
        crops = {(dy, dx, flip): padded[i, :, dy : dy + 6, dx : dx + 5] for dy, dx, flip in candidates}
        crops = {key: crop.flip(-1) if key[2] else crop for key, crop in crops.items()}
        matches = [key for key, crop in crops.items() if torch.equal(out[i], crop)]
        assert matches, f"image {i} is not a shifted (and possibly mirrored) copy of its input"
        seen.add(matches[0])
    assert len(seen) > 30, "shifts and flips should vary from image to image"
    flips = sum(flip for _, _, flip in seen)
    assert 0 < flips < len(seen)
    with pytest.raises(ValueError, match="RandomCropFlip needs x"):
        layer(torch.rand(3, 6, 5))


# the MLP


def test_mlp_is_the_hand_written_sequential():
    torch.manual_seed(0)
    ours = MLP([784, 128, 64, 10])
    hand = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    hand.load_state_dict(ours.state_dict())  # same names and shapes
    x = torch.rand(5, 1, 28, 28)
    assert torch.equal(ours(x), hand(x))
    assert count_parameters(ours) == (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)


def test_mlp_norm_dropout_and_activation():
    model = MLP([4, 8, 8, 3], activation=nn.Tanh, norm=nn.LayerNorm, dropout=0.5)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == [
        "Flatten",
        "Linear",
        "LayerNorm",
        "Tanh",
        "Dropout",
        "Linear",
        "LayerNorm",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    assert model.eval()(torch.randn(2, 4)).shape == (2, 3)


def test_mlp_bad_input():
    with pytest.raises(ValueError, match="two or more positive ints"):
        MLP([784])
    with pytest.raises(ValueError, match="two or more positive ints"):
        MLP([784, 0, 10])
    with pytest.raises(TypeError, match="nn.ReLU"):
        MLP([4, 2], activation=nn.ReLU())
    with pytest.raises(ValueError, match="dropout"):
        MLP([4, 8, 2], dropout=1.0)
    with pytest.raises(ValueError, match=r"784 values per example, got \(2, 1, 8, 8\)"):
        MLP([784, 10])(torch.zeros(2, 1, 8, 8))


def test_mlp_slices_are_the_first_layers():
    model = MLP([4, 8, 3])
    head = model[:3]  # Flatten, Linear, ReLU: the hidden layer's activations
    x = torch.randn(5, 4)
    assert isinstance(head, nn.Sequential) and len(head) == 3
    assert torch.equal(head(x), torch.relu(model[1](x)))
    assert isinstance(model[-1], nn.Linear)
