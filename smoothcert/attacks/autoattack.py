"""AutoAttack-style ensemble through the Adversarial Robustness Toolbox (optional; imported only when used).

Runs ART's APGD-CE, APGD-DLR and Square attacks one after the other, each on the inputs the earlier ones did
not break, and keeps the first adversarial example found per input (the worst case over the ensemble, as
AutoAttack does). Install with ``pip install adversarial-robustness-toolbox`` (not a required dependency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InvalidArgumentError
from .norms import check_norm
from .pgd import check_batch


@dataclass(frozen=True)
class AutoAttackConfig:
    """Budgets of the ensemble. The defaults are AutoAttack's (100 iterations, Square with 5,000 queries);
    smaller values make a cheaper, weaker check and must be reported as such."""

    apgd_iter: int = 100
    apgd_restarts: int = 1
    square_queries: int = 5000
    square_restarts: int = 1
    batch_size: int = 256

    def describe(self) -> str:
        return (f"ART APGD-CE + APGD-DLR ({self.apgd_iter} it × {self.apgd_restarts}) + Square "
                f"({self.square_queries} queries × {self.square_restarts})")


def art_available() -> bool:
    """Whether the optional Adversarial Robustness Toolbox can be imported."""
    try:
        import art  # noqa: F401
    except ImportError:
        return False
    return True


class _Logits(nn.Module):
    """ART wants a module returning logits; log-probabilities of a mixed model serve as such."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str = "linf",
    num_classes: int | None = None,
    config: AutoAttackConfig | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Adversarial inputs [N, ...] from the ART ensemble at radius ``eps`` (one float) in ``norm``.

    Raises InvalidArgumentError when the toolbox is not installed.
    """
    norm = check_norm(norm)
    check_batch(x, y)
    config = config or AutoAttackConfig()
    if not art_available():
        raise InvalidArgumentError("AutoAttack needs the optional package adversarial-robustness-toolbox "
                                   "(pip install adversarial-robustness-toolbox)")
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    device = x.device
    with torch.no_grad():
        c = num_classes or int(model(x[:1]).shape[1])
    classifier = PyTorchClassifier(_Logits(model), loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                   nb_classes=c, clip_values=(0.0, 1.0),
                                   device_type="gpu" if device.type == "cuda" else "cpu")
    art_norm = np.inf if norm == "linf" else 2
    attacks = [
        AutoProjectedGradientDescent(classifier, norm=art_norm, eps=eps, eps_step=2 * eps, max_iter=config.apgd_iter,
                                     nb_random_init=config.apgd_restarts, batch_size=config.batch_size,
                                     loss_type=loss, verbose=False)
        for loss in ("cross_entropy", "difference_logits_ratio")
    ]
    attacks.append(SquareAttack(classifier, norm=art_norm, eps=eps, max_iter=config.square_queries,
                                nb_restarts=config.square_restarts, batch_size=config.batch_size, verbose=False))
    np.random.seed(seed)  # noqa: NPY002 -- ART draws its random starts from NumPy's global generator
    x_np = x.detach().cpu().numpy().astype(np.float32)
    y_np = y.detach().cpu().numpy()
    adv = x_np.copy()
    robust = classifier.predict(x_np, batch_size=config.batch_size).argmax(1) == y_np
    for attack in attacks:
        idx = np.flatnonzero(robust)
        if idx.size == 0:
            break
        candidate = attack.generate(x_np[idx], y=np.eye(c, dtype=np.float32)[y_np[idx]])
        broken = classifier.predict(candidate, batch_size=config.batch_size).argmax(1) != y_np[idx]
        adv[idx[broken]] = candidate[broken]
        robust[idx[broken]] = False
    return torch.from_numpy(adv).to(device)
