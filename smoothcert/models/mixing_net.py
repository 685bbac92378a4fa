"""The mixing network α(x) of adaptive smoothing (Bai, Anderson, Kim & Sojoudi 2024; methods.md §5).

It reads intermediate features of both frozen base models through forward hooks, pools them to one grid,
runs a few residual blocks, global pooling and a linear layer to a scalar γ(x), normalizes it with a
BatchNorm without affine parameters, reparameterizes γ' = BN(γ)·scale + bias, and returns
α(x) = sigmoid(γ'); in evaluation mode the range map α ↦ α·α_scale + α_bias is applied on top.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError


def leaf_outputs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape without batch) of every leaf module, in call order, for one probe forward pass."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    handles = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: seen.append((name, tuple(out.shape[1:])))
                if isinstance(out, torch.Tensor) else None))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return seen


def output_shapes(model: nn.Module, layers: Sequence[str], example: torch.Tensor) -> list[tuple[int, ...]]:
    """Output shape (without batch) of each named module of ``model`` on a probe input."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise InvalidArgumentError(f"layers {missing} not found in the model; it has {list(modules)[1:12]}…")
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:  # returns None: output unchanged
            shapes.setdefault(name, tuple(out.shape[1:]))
        return hook

    handles = [modules[name].register_forward_hook(record(name)) for name in layers]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return [shapes[name] for name in layers]


def default_feature_layers(model: nn.Module, example: torch.Tensor, count: int = 2) -> list[str]:
    """The last module of each of the last ``count`` distinct feature shapes before the output layer,
    spatial feature maps [C, H, W] first (vector features only where there are too few maps).

    For the zoo's LeNet on 28×28 inputs: the ReLU after the second convolution (32×14×14) and the pooling
    after it (32×7×7).
    """
    outputs = leaf_outputs(model, example)[:-1]  # the last leaf produces the logits
    last_of_shape: dict[tuple[int, ...], str] = {}
    for name, shape in outputs:
        last_of_shape.pop(shape, None)  # re-insert: dict order follows the last occurrence
        last_of_shape[shape] = name
    maps = [name for shape, name in last_of_shape.items() if len(shape) == 3]
    vectors = [name for shape, name in last_of_shape.items() if len(shape) != 3]
    names = maps[-count:] if len(maps) >= count else maps + vectors[-(count - len(maps)):]
    if not names:
        raise InvalidArgumentError("the model has no intermediate layers to read features from")
    return names


class ResidualBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the input, then ReLU (channels and size kept)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(out)))


class FeatureTap:
    """Forward hooks that keep named modules' outputs while :attr:`active` (gradients stay attached)."""

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise InvalidArgumentError(f"layers {missing} not found in the model; it has {list(modules)[1:12]}…")
        self.layers = list(layers)
        self.active = False
        self.features: dict[str, torch.Tensor] = {}
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def _hook(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if self.active:
                self.features[name] = output
        return hook

    def take(self) -> list[torch.Tensor]:
        """The captured features, in layer order, and forget them (they hold the autograd graph)."""
        missing = [name for name in self.layers if name not in self.features]
        if missing:
            raise InvalidArgumentError(f"no features captured from layers {missing}: was the model called?")
        out = [self.features[name] for name in self.layers]
        self.features = {}
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class MixingNetwork(nn.Module):
    """α(x) from the features of a standard model g and a robust model h.

    Args:
        standard, robust: the frozen base models; hooks are registered on them (they are not submodules, so
            their weights are not part of this network's state dict).
        example: one input batch [1, ...] used to find feature shapes (and default layers).
        standard_layers, robust_layers: module names to read (default :func:`default_feature_layers`).
        width: channels of the residual trunk; blocks: number of residual blocks.
        bn_momentum: momentum of the BatchNorm on γ.
    Forward (after the base models ran on the same input): ``from_features()`` → (γ' [N], α [N]).
    """

    def __init__(
        self,
        standard: nn.Module,
        robust: nn.Module,
        example: torch.Tensor,
        standard_layers: Sequence[str] | None = None,
        robust_layers: Sequence[str] | None = None,
        width: int = 32,
        blocks: int = 2,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise InvalidArgumentError(f"need width >= 1 and blocks >= 0, got {width}, {blocks}")
        self.standard_layers = list(standard_layers or default_feature_layers(standard, example))
        self.robust_layers = list(robust_layers or default_feature_layers(robust, example))
        feats = output_shapes(standard, self.standard_layers, example) + output_shapes(robust, self.robust_layers,
                                                                                       example)
        channels = sum(s[0] for s in feats)
        self.grid = min((min(s[1], s[2]) if len(s) == 3 else 1) for s in feats)
        self.width, self.blocks = int(width), int(blocks)
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.trunk = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.linear = nn.Linear(width, 1)
        self.bn = nn.BatchNorm1d(1, affine=False, momentum=bn_momentum)
        # γ' = BN(γ)·gamma_scale + gamma_bias; α range (α_bias, α_bias + α_scale) in evaluation mode.
        for name, value in (("gamma_scale", 1.0), ("gamma_bias", 0.0), ("alpha_scale", 1.0), ("alpha_bias", 0.0)):
            self.register_buffer(name, torch.tensor(value))
        self._taps = (FeatureTap(standard, self.standard_layers), FeatureTap(robust, self.robust_layers))

    # --- configuration ----------------------------------------------------------------------------------

    def set_reparameterization(self, gamma_scale: float, gamma_bias: float) -> None:
        """γ' = BN(γ)·gamma_scale + gamma_bias (scale > 0)."""
        if not gamma_scale > 0:
            raise InvalidArgumentError(f"gamma_scale must be > 0, got {gamma_scale}")
        self.gamma_scale.fill_(float(gamma_scale))
        self.gamma_bias.fill_(float(gamma_bias))

    def set_alpha_range(self, low: float, high: float) -> None:
        """α ∈ (low, high) at evaluation: α = sigmoid(γ')·(high − low) + low, with 0 ≤ low ≤ high ≤ 1."""
        if not 0.0 <= low <= high <= 1.0:
            raise InvalidArgumentError(f"the alpha range needs 0 <= low <= high <= 1, got ({low}, {high})")
        self.alpha_scale.fill_(float(high - low))
        self.alpha_bias.fill_(float(low))

    @property
    def alpha_range(self) -> tuple[float, float]:
        return float(self.alpha_bias), float(self.alpha_bias + self.alpha_scale)

    def config(self) -> dict:
        """What is needed to rebuild the network around the same base models (for a sidecar)."""
        return {"standard_layers": self.standard_layers, "robust_layers": self.robust_layers, "width": self.width,
                "blocks": self.blocks, "bn_momentum": self.bn.momentum}

    # --- forward ------------------------------------------------------------------------------------------

    def capture(self, on: bool) -> None:
        """Start (True) or stop (False) keeping the base models' features."""
        for tap in self._taps:
            tap.active = on
            if not on:
                tap.features = {}

    def from_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(γ' [N], α [N]) from the features captured during the base models' last forward passes."""
        feats = [self._pool(f) for tap in self._taps for f in tap.take()]
        h = self.trunk(self.stem(torch.cat(feats, dim=1)))
        gamma = self.linear(h.mean(dim=(2, 3)))  # [N, 1]
        gamma = self.bn(gamma).squeeze(1) * self.gamma_scale + self.gamma_bias
        alpha = torch.sigmoid(gamma)
        if not self.training:
            alpha = alpha * self.alpha_scale + self.alpha_bias
        return gamma, alpha

    def _pool(self, f: torch.Tensor) -> torch.Tensor:
        if f.dim() == 2:
            f = f[:, :, None, None]
        elif f.dim() != 4:
            raise InvalidArgumentError(f"features must be [N, C] or [N, C, H, W], got shape {tuple(f.shape)}")
        return F.adaptive_avg_pool2d(f, self.grid)
