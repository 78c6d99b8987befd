"""Assembled models the chapters train, and what they cost (parameters, FLOPs)."""

from dlbook.models.augment import RandomCropFlip
from dlbook.models.cost import count_parameters, layer_flops
from dlbook.models.lenet import LeNet
from dlbook.models.mlp import MLP
from dlbook.models.resnet import ResidualBlock, ResNetMini

__all__ = ["MLP", "LeNet", "RandomCropFlip", "ResNetMini", "ResidualBlock", "count_parameters", "layer_flops"]
