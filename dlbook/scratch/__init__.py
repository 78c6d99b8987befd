"""A deep-learning engine in numpy alone, built in the book's chapter on backpropagation.

``Value`` differentiates one number at a time, ``Tensor`` whole arrays. ``nn`` has layers,
``functional`` softmax and cross-entropy, ``optim`` the optimizers, ``gradcheck`` checks
gradients against finite differences.
"""

from dlbook.scratch import functional, nn, optim
from dlbook.scratch.gradcheck import gradcheck
from dlbook.scratch.tensor import Tensor
from dlbook.scratch.value import Value

__all__ = ["Tensor", "Value", "functional", "gradcheck", "nn", "optim"]
