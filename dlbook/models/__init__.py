"""Assembled models the chapters train, and what they cost (parameters, FLOPs)."""

from dlbook.models.augment import RandomCropFlip
from dlbook.models.cost import count_parameters, gpt_flops_per_token, layer_flops
from dlbook.models.gpt import GPT
from dlbook.models.lenet import LeNet
from dlbook.models.mlp import MLP
from dlbook.models.resnet import ResidualBlock, ResNetMini
from dlbook.models.transformer import Seq2SeqTransformer

__all__ = [
    "GPT", "MLP", "LeNet", "RandomCropFlip", "ResNetMini", "ResidualBlock", "Seq2SeqTransformer",
    "count_parameters", "gpt_flops_per_token", "layer_flops",
]  # fmt: skip
