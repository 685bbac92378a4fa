"""Architectures that ship with smoothcert. Each begins with :class:`Normalize`.

Every constructor takes ``input_shape`` (one input, e.g. (1, 28, 28)), ``num_classes``, ``mean`` and ``std``
(per-channel normalization constants) and its own keyword arguments, which checkpoints record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn

from ..errors import InvalidArgumentError
from .layers import Normalize


class MLP(nn.Sequential):
    """Flatten → (Linear → ReLU) × len(hidden) → Linear. For vector or small image inputs."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
        hidden: Sequence[int] = (256, 256),
    ) -> None:
        layers: list[nn.Module] = [Normalize(mean, std), nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class LeNet(nn.Sequential):
    """LeNet-style CNN: (conv3×3 → ReLU → maxpool2) × 2 → Linear(hidden) → ReLU → Linear.

    Works for any H, W ≥ 4 (8×8 digits, 28×28 MNIST); padding keeps sizes before each pooling.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
    ) -> None:
        c, h, w = _image_shape(input_shape)
        c1, c2 = channels
        super().__init__(
            Normalize(mean, std),
            nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip


class ConvNet(nn.Sequential):
    """conv32–conv64–fc128–fc10: the CNN of PyTorch's MNIST example, used by Pal & Sulam (2023).

    conv3×3(32) → ReLU → conv3×3(64) → ReLU → maxpool2 → dropout → Linear(128) → ReLU → dropout → Linear.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: Sequence[float] = (0.25, 0.5),
    ) -> None:
        c, h, w = _image_shape(input_shape, minimum=6)
        c1, c2 = channels
        super().__init__(
            Normalize(mean, std),
            nn.Conv2d(c, c1, 3), nn.ReLU(),
            nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(dropout[0]), nn.Flatten(),
            nn.Linear(c2 * ((h - 4) // 2) * ((w - 4) // 2), hidden), nn.ReLU(),
            nn.Dropout(dropout[1]),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip


def _image_shape(input_shape: Sequence[int], minimum: int = 4) -> tuple[int, int, int]:
    if len(input_shape) != 3 or min(input_shape[1:]) < minimum:
        raise InvalidArgumentError(f"a CNN needs inputs C×H×W with H, W >= {minimum}, got {tuple(input_shape)}")
    c, h, w = input_shape
    return int(c), int(h), int(w)


#: Architecture name → constructor; the names checkpoints record.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"mlp": MLP, "lenet": LeNet, "cnn": ConvNet}


def build_model(
    architecture: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float] = (0.0,),
    std: Sequence[float] = (1.0,),
    **arch_args: object,
) -> nn.Module:
    """Construct a zoo model by name; unknown names or arguments raise InvalidArgumentError."""
    if architecture not in ARCHITECTURES:
        raise InvalidArgumentError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[architecture](tuple(input_shape), int(num_classes), mean, std, **arch_args)
    except TypeError as err:
        raise InvalidArgumentError(f"bad arguments for architecture {architecture!r}: {err}") from err
