"""Normalization layers: BatchNorm1d (statistics over the batch) and LayerNorm (over each example's features).

Both compute the mean and the variance explicitly from tensor primitives, and keep torch.nn's parameter
and buffer names, so a state_dict moves between these layers and their torch.nn twins in both directions.
A bfloat16 or float16 input is normalized in float32 and the result cast back, as torch does: a mean and
a variance summed in 8 bits of mantissa would be off by far more than the output's own rounding.
"""

import torch
from torch import nn

LOW_PRECISION = (torch.bfloat16, torch.float16)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype to compute statistics in: float32 for a half-precision ``x``, else ``x``'s own."""
    return torch.float32 if x.dtype in LOW_PRECISION else x.dtype


class BatchNorm1d(nn.Module):
    """Normalize each feature with its batch mean and variance, then scale and shift it.

    x: (batch, features) or (batch, features, length) -> the same shape. In training mode the statistics
    come from the batch (over batch and length) and update the running averages; in eval mode the running
    averages are used, so one example's output no longer depends on the rest of its batch.
    ``momentum=None`` makes the running averages plain cumulative means over all batches seen.
    An empty batch gives an empty output and leaves the running averages alone (torch still counts it in
    ``num_batches_tracked``, and so does this layer).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
    ):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}.")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine and bias else None
        self.register_buffer("running_mean", torch.zeros(num_features) if track_running_stats else None)
        self.register_buffer("running_var", torch.ones(num_features) if track_running_stats else None)
        self.register_buffer("num_batches_tracked", torch.tensor(0) if track_running_stats else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, features) or (batch, features, length) -> the same shape."""
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d({self.num_features}) needs x: (batch, {self.num_features}) or "
                f"(batch, {self.num_features}, length), got {tuple(x.shape)}."
            )
        axes = (0,) if x.ndim == 2 else (0, 2)  # every axis but the features
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)  # broadcasts a (features,) vector against x
        dtype, x = x.dtype, x.to(_compute_dtype(x))
        if self.training or self.running_mean is None:
            count = x.numel() // self.num_features  # values per feature in this batch
            if count == 1:
                raise ValueError(
                    "BatchNorm1d needs more than one value per feature to compute a variance, got x of shape "
                    f"{tuple(x.shape)}: use a batch of 2 or more in training, or call model.eval() first."
                )
            if count == 0:  # an empty batch: an empty output, and nothing to learn from
                mean, var = x.new_zeros(self.num_features), x.new_ones(self.num_features)
            else:
                mean = x.mean(axes)
                var = ((x - mean.view(shape)) ** 2).mean(axes)  # biased: divides by count
            if self.training and self.running_mean is not None:
                self._update_running_stats(mean.detach(), var.detach() * count / max(count - 1, 1), count)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            x_hat = x_hat * self.weight.view(shape)
        if self.bias is not None:
            x_hat = x_hat + self.bias.view(shape)
        return x_hat.to(dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor, count: int) -> None:
        """Move the running averages towards this batch's mean and unbiased variance (as torch does).

        An empty batch (``count == 0``) is counted but moves nothing, as in torch.
        """
        self.num_batches_tracked += 1
        if count == 0:
            return
        step = 1 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        self.running_mean.copy_((1 - step) * self.running_mean + step * mean)
        self.running_var.copy_((1 - step) * self.running_var + step * unbiased_var)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class LayerNorm(nn.Module):
    """Normalize each example over its last dimensions, then scale and shift: no batch statistics at all.

    ``x: (..., *normalized_shape)`` -> the same shape; the same computation in training and eval mode.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int] | torch.Size,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        sequence = isinstance(normalized_shape, (tuple, list, torch.Size))
        shape = tuple(normalized_shape) if sequence else (normalized_shape,)
        if not shape or not all(isinstance(size, int) and size >= 1 for size in shape):
            raise ValueError(
                f"normalized_shape must be a positive int or a tuple of them, got {normalized_shape!r}."
            )
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if elementwise_affine and bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (..., *normalized_shape)`` -> the same shape."""
        n = len(self.normalized_shape)
        if x.ndim < n or tuple(x.shape[x.ndim - n :]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm{self.normalized_shape} needs x whose last {n} dimension(s) are "
                f"{self.normalized_shape}, got {tuple(x.shape)}."
            )
        axes = tuple(range(-n, 0))
        dtype, x = x.dtype, x.to(_compute_dtype(x))
        mean = x.mean(axes, keepdim=True)
        var = ((x - mean) ** 2).mean(axes, keepdim=True)  # biased, as in training and eval alike
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            x_hat = x_hat * self.weight
        if self.bias is not None:
            x_hat = x_hat + self.bias
        return x_hat.to(dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )

