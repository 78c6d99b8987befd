"""Assembled models the chapters train, and what they cost (parameters, FLOPs)."""

from dlbook.models.augment import RandomCropFlip
from dlbook.models.cost import count_parameters, gpt_flops_per_token, layer_flops
from dlbook.models.diffusion import DDPM, TimeMLP, cosine_beta_schedule, linear_beta_schedule, sinusoidal_embedding
from dlbook.models.gan import (
    DCDiscriminator,
    DCGenerator,
    Discriminator,
    Generator,
    apply_spectral_norm,
    critic_loss,
    discriminator_loss,
    gan_step,
    generator_loss,
    gradient_penalty,
)
from dlbook.models.gpt import GPT
from dlbook.models.lenet import LeNet
from dlbook.models.mlp import MLP
from dlbook.models.recommend import MatrixFactorization, NeuralCF
from dlbook.models.resnet import ResidualBlock, ResNetMini
from dlbook.models.text_classifier import (
    LSTMClassifier,
    TransformerClassifier,
    WordVocabulary,
    load_classifier,
    save_classifier,
)
from dlbook.models.transformer import Seq2SeqTransformer

__all__ = [
    "GPT", "MLP", "LeNet", "RandomCropFlip", "ResNetMini", "ResidualBlock", "Seq2SeqTransformer",
    "count_parameters", "gpt_flops_per_token", "layer_flops",
    "DCDiscriminator", "DCGenerator", "DDPM", "Discriminator", "Generator", "TimeMLP", "apply_spectral_norm",
    "cosine_beta_schedule", "critic_loss", "discriminator_loss", "gan_step", "generator_loss", "gradient_penalty",
    "linear_beta_schedule", "sinusoidal_embedding",
    "LSTMClassifier", "MatrixFactorization", "NeuralCF", "TransformerClassifier", "WordVocabulary", "load_classifier",
    "save_classifier",
]  # fmt: skip
