"""Layers built from tensor primitives, each a drop-in twin of its ``torch.nn`` namesake.

Same constructor arguments, same parameter and buffer names (so state_dicts load either
way), same outputs and gradients: the tests check each against torch. Attention (``attention.py``) follows
``torch.nn.functional.scaled_dot_product_attention`` and keeps ``torch.nn.MultiheadAttention``'s parameters, but is
batch first with torch's functional mask convention (True = may attend); the Transformer block is checked against
torch's pre-norm Transformer layers.
"""

from dlbook.layers.attention import (  # noqa: F401  (the package face re-exports them)
    KVCache,
    LearnedPositions,
    MultiHeadAttention,
    RotaryEmbedding,
    TransformerBlock,
    apply_rotary,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)
from dlbook.layers.conv import (  # noqa: F401  (the package face re-exports them)
    Conv2d,
    MaxPool2d,
    conv2d_loop,
    conv2d_unfold,
    conv_output_size,
    max_pool2d,
)
from dlbook.layers.norm import BatchNorm1d, LayerNorm  # noqa: F401  (the package face re-exports them)
from dlbook.layers.recurrent import (  # noqa: F401  (the package face re-exports them)
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
)
