"""dlbook.interpret: exact saliency and integrated gradients on linear models, completeness on a ReLU network
(with a gap that shrinks with the steps), layer features by name, and linear probes that read what is there."""

import pytest
import torch
from torch import nn

from dlbook.interpret import class_scores, fit_probe, integrated_gradients, layer_features, saliency
from dlbook.metrics import accuracy


def linear_model(seed=0, inputs=6, classes=3):
    torch.manual_seed(seed)
    return nn.Linear(inputs, classes)


def small_relu_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def test_saliency_of_a_linear_model_is_the_weight_row_of_the_class():
    model = linear_model()
    x = torch.randn(5, 6)
    target = torch.tensor([0, 1, 2, 1, 0])
    torch.testing.assert_close(saliency(model, x, target), model.weight[target].detach())


def test_saliency_explains_the_predicted_class_by_default():
    model = linear_model()
    x = torch.randn(8, 6)
    predicted = model(x).argmax(1)
    torch.testing.assert_close(saliency(model, x), model.weight[predicted].detach())


def test_integrated_gradients_of_a_linear_model_are_weight_times_distance_at_any_steps():
    model = linear_model()
    x, baseline = torch.randn(4, 6), torch.randn(4, 6)
    for steps in (1, 3, 50):
        ig = integrated_gradients(model, x, baseline, target=2, steps=steps)
        torch.testing.assert_close(ig, model.weight[2].detach() * (x - baseline))


def test_integrated_gradients_are_complete_and_the_gap_shrinks_with_the_steps():
    model = small_relu_net()
    x = torch.randn(10, 3, 4) * 2
    target = model(x).argmax(1)
    with torch.no_grad():
        change = class_scores(model, x, target) - class_scores(model, torch.zeros_like(x), target)
    gaps = {}
    for steps in (2, 8, 32, 256):
        total = integrated_gradients(model, x, target=target, steps=steps).flatten(1).sum(1)
        gaps[steps] = ((total - change).abs() / change.abs().clamp_min(1e-3)).max().item()
    assert gaps[256] < 0.01, gaps
    assert gaps[256] < gaps[8] / 4 and gaps[32] < gaps[2], gaps


def test_integrated_gradients_take_one_baseline_for_all_examples():
    model = small_relu_net()
    x, grey = torch.rand(3, 3, 4), torch.full((3, 4), 0.5)
    one = integrated_gradients(model, x, grey, target=1, steps=16)
    each = integrated_gradients(model, x, grey.expand(3, 3, 4), target=1, steps=16)
    torch.testing.assert_close(one, each)


def test_integrated_gradients_refuse_bad_arguments_clearly():
    model = small_relu_net()
    x = torch.rand(2, 3, 4)
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, x, torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, x, steps=0)
    with pytest.raises(ValueError, match="target"):
        integrated_gradients(model, x, target=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="target ids"):
        integrated_gradients(model, x, target=7)
    with pytest.raises(ValueError, match="float tensor"):
        saliency(model, torch.ones(2, 3, 4, dtype=torch.long))


def test_layer_features_are_the_named_layers_outputs_flattened():
    model = small_relu_net()
    x = torch.randn(7, 3, 4)
    features = layer_features(model, ["2", "4"], x, batch_size=3)
    with torch.no_grad():
        first = model[2](model[1](model[0](x)))
        second = model[4](model[3](first))
    torch.testing.assert_close(features["2"], first)
    torch.testing.assert_close(features["4"], second)
    assert model.training  # the mode is put back


def test_layer_features_name_the_layers_there_are():
    with pytest.raises(ValueError, match="no layer named.*'9'"):
        layer_features(small_relu_net(), ["9"], torch.randn(2, 3, 4))
    with pytest.raises(TypeError, match="list of layer names"):
        layer_features(small_relu_net(), "2", torch.randn(2, 3, 4))


def test_a_probe_reads_a_linearly_coded_class_and_not_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (600,), generator=g)
    directions = torch.randn(3, 20, generator=g)
    coded = directions[labels] * 2 + torch.randn(600, 20, generator=g)
    noise = torch.randn(600, 20, generator=g)
    readable = fit_probe(coded[:400], labels[:400])
    unreadable = fit_probe(noise[:400], labels[:400])
    assert accuracy(readable(coded[400:]), labels[400:]) > 0.9
    assert accuracy(unreadable(noise[400:]), labels[400:]) < 0.5  # chance is 1/3
    assert not any(p.requires_grad for p in readable.parameters())


def test_fit_probe_refuses_bad_arguments_clearly():
    with pytest.raises(ValueError, match=r"labels must be \(5,\)"):
        fit_probe(torch.randn(5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="features must be"):
        fit_probe(torch.randn(5), torch.zeros(5, dtype=torch.long))
    probe = fit_probe(torch.randn(10, 3), torch.arange(10) % 2)
    with pytest.raises(ValueError, match=r"needs features \(n, 3\)"):
        probe(torch.randn(2, 4))
