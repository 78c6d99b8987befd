"""What a model costs: parameters to store, and floating-point operations per forward pass."""

import torch
from torch import nn

from dlbook.layers.conv import Conv2d


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in ``model`` (parameters with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def layer_flops(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """FLOPs of every convolution and linear layer in one forward pass of ``x``, by layer name.

    A multiply-add counts as 2 FLOPs, as in torch.utils.flop_counter; biases, activations, pooling and
    normalization (cheap next to the matrix products) are not counted. Pass one image, x: (1, c, h, w), for
    the cost per image. Forward hooks find the layers, so branches and repeated layers count as they run.
    """
    flops: dict[str, int] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs, output: torch.Tensor) -> None:
            # every output value is one dot product of length weight[0].numel() (in_channels * kh * kw, or in)
            per_output = module.weight[0].numel()
            flops[name] = flops.get(name, 0) + 2 * per_output * output.numel()

        return record

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | Conv2d | nn.Linear)]
    handles = [module.register_forward_hook(hook(name)) for name, module in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return flops


def gpt_flops_per_token(model: nn.Module, context_length: int | None = None, training: bool = True) -> int:
    """FLOPs to train a GPT on one token: ``6 N + 12 L E T`` (forward only, ``training=False``: ``2 N + 4 L E T``).

    The estimate of Kaplan et al. (2020) and Chowdhery et al. (2022, appendix B), as nanoGPT uses it for MFU: each
    of the N parameters in a matrix product costs a multiply-add in the forward pass and two in the backward;
    attention adds ``q k^T`` and ``weights @ v`` over T = ``context_length`` keys (default: the model's) in each
    of L layers of width E. N counts every parameter but the position embeddings (biases and norms, a small
    overcount); the causal mask's skipped half is not subtracted. ``model`` is a :class:`~dlbook.models.GPT`.
    """
    context_length = model.context_length if context_length is None else context_length
    n = count_parameters(model) - model.positions.weight.numel()
    per_layer_attention = 2 * 2 * model.embed_dim * context_length  # q k^T and weights @ v, per token
    forward = 2 * n + model.num_layers * per_layer_attention
    return 3 * forward if training else forward
