"""Uncertainty measures on a model's outputs, and the model wrappers that give several predictive members.

Every measure maps member probabilities [N, M, C] (M members: 1 for a plain network, T for MC dropout, the
number of networks for a deep ensemble) to u [N] ≥ 0, larger meaning more uncertain. p̄ = mean over members.

- ``entropy``: predictive entropy H(p̄) = −Σ_c p̄_c log p̄_c (nats; the softmax entropy when M = 1), in [0, log C].
- ``max_prob``: 1 − max_c p̄_c, in [0, 1 − 1/C].
- ``margin``: 1 − (p̄_(1) − p̄_(2)), one minus the gap between the two largest probabilities, in [0, 1].
- ``mutual_info``: H(p̄) − mean_m H(p_m), the mutual information between the prediction and the member
  (epistemic part of the entropy; 0 when M = 1), in [0, log C].

The class is argmax of the logits when M = 1 (exactly the plain base classifier), else argmax p̄.

Members reach the engine as one logits tensor [N, M·C] (member-major: columns m·C … m·C + C − 1 are member m),
so an outcome map can see every member: :class:`Ensemble` and :class:`MCDropout` produce that layout.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError, InvalidArgumentError

#: Names of the uncertainty measures.
MEASURES = ("entropy", "max_prob", "margin", "mutual_info")


def check_measure(measure: str, members: int = 1) -> str:
    """Return ``measure`` if it is a known name usable with ``members`` members, else raise."""
    if measure not in MEASURES:
        raise InvalidArgumentError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if measure == "mutual_info" and members < 2:
        raise InvalidArgumentError("uncertainty measure 'mutual_info' needs several members "
                                   "(a deep ensemble or MC dropout), got 1")
    return measure


def check_members(members: int) -> int:
    if isinstance(members, bool) or not isinstance(members, int | np.integer) or members < 1:
        raise InvalidArgumentError(f"members must be an integer >= 1, got {members!r}")
    return int(members)


def max_uncertainty(measure: str, num_classes: int) -> float:
    """The largest value ``measure`` can take with ``num_classes`` classes."""
    check_measure(measure, members=2)
    return {"entropy": math.log(num_classes), "max_prob": 1 - 1 / num_classes, "margin": 1.0,
            "mutual_info": math.log(num_classes)}[measure]


# --- measures on probabilities ---------------------------------------------------------------------------

def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats over the last axis: [..., C] → [...] (0 log 0 = 0)."""
    return -torch.special.xlogy(p, p).sum(dim=-1)


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits): [N, C] → [N], nats."""
    return entropy(logits.softmax(dim=-1))


def one_minus_max_probability(p: torch.Tensor) -> torch.Tensor:
    """1 − max_c p_c: [N, C] → [N]."""
    return 1.0 - p.max(dim=-1).values


def top2_margin_uncertainty(p: torch.Tensor) -> torch.Tensor:
    """1 − (p_(1) − p_(2)), the complement of the gap between the two largest probabilities: [N, C] → [N]."""
    top2 = p.topk(2, dim=-1).values
    return 1.0 - (top2[..., 0] - top2[..., 1])


def predictive_entropy(member_probs: torch.Tensor) -> torch.Tensor:
    """H(mean_m p_m): [N, M, C] → [N], nats."""
    return entropy(member_probs.mean(dim=1))


def mutual_information(member_probs: torch.Tensor) -> torch.Tensor:
    """H(mean_m p_m) − mean_m H(p_m): [N, M, C] → [N], nats, clipped at 0 against rounding."""
    return (predictive_entropy(member_probs) - entropy(member_probs).mean(dim=1)).clamp_min(0.0)


def member_probabilities(logits: torch.Tensor, members: int, num_classes: int) -> torch.Tensor:
    """Logits [N, M·C] (member-major) → softmax probabilities [N, M, C] (float32)."""
    if logits.dim() != 2 or logits.shape[1] != members * num_classes:
        raise InputError(f"the model returns {logits.shape[1] if logits.dim() == 2 else tuple(logits.shape)} "
                         f"logits, but {members} member(s) × {num_classes} classes = {members * num_classes} "
                         "are expected")
    return logits.float().view(len(logits), members, num_classes).softmax(dim=-1)


def class_and_uncertainty(logits: torch.Tensor, measures: Sequence[str], members: int, num_classes: int
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The predicted class [N] (int64) and u [N, len(measures)] (float32) of a batch of logits [N, M·C]."""
    probs = member_probabilities(logits, members, num_classes)
    mean = probs.mean(dim=1)
    cls = logits.argmax(dim=1) if members == 1 else mean.argmax(dim=1)
    columns = []
    for measure in measures:
        if measure == "entropy":
            u = entropy(mean)
        elif measure == "max_prob":
            u = one_minus_max_probability(mean)
        elif measure == "margin":
            u = top2_margin_uncertainty(mean)
        else:
            u = mutual_information(probs)
        columns.append(u)
    u = torch.stack(columns, dim=1)
    return cls, torch.nan_to_num(u, nan=math.inf)  # a NaN score counts as uncertain


@torch.inference_mode()
def clean_uncertainty(model: nn.Module, x: torch.Tensor, measures: Sequence[str], num_classes: int,
                      members: int = 1, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Base-model class [N] and uncertainty [N, len(measures)] on clean inputs x [N, *input_shape]."""
    members = check_members(members)
    for m in measures:
        check_measure(m, members)
    model.eval()
    classes, scores = [], []
    for start in range(0, len(x), batch_size):
        cls, u = class_and_uncertainty(model(x[start : start + batch_size]), measures, members, num_classes)
        classes.append(cls.cpu())
        scores.append(u.cpu())
    if not classes:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(measures)))
    return torch.cat(classes).numpy(), torch.cat(scores).double().numpy()


# --- models with several members ---------------------------------------------------------------------------

class Ensemble(nn.Module):
    """A deep ensemble: every member's logits side by side, [N, M·C] (member-major).

    Args:
        models: M ≥ 2 networks with the same input shape and number of classes.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(models) < 2:
            raise InvalidArgumentError(f"an ensemble needs at least 2 models, got {len(models)}")
        self.members = nn.ModuleList(models)

    @property
    def num_members(self) -> int:
        return len(self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self.members], dim=1)


#: Dropout layers MC dropout masks (alpha dropout, which is not a scaled mask, stays the identity of eval mode).
_MASKED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


class MCDropout(nn.Module):
    """MC dropout with T fixed dropout masks: T thinned copies of one network, logits [N, T·C] (member-major).

    Each dropout layer of (a copy of) ``model`` gets T masks, drawn once from ``seed`` when the layer first
    sees an input (element-wise for ``nn.Dropout``, channel-wise for ``Dropout1d/2d/3d``), scaled by 1/(1 − p)
    as in training. Fixing the masks makes the base classifier a deterministic function of its input, so the
    engine's seeding (noise from (seed, index, stream) only) still fixes every outcome; fresh masks per call
    would give a randomized base classifier, equally sound but not reproducible.

    Args:
        model: a network with at least one dropout layer; it is copied, not changed.
        passes: T ≥ 2, the number of stochastic forward passes.
        seed: seed of the masks.
    """

    def __init__(self, model: nn.Module, passes: int, seed: int = 0) -> None:
        super().__init__()
        passes = check_members(passes)
        if passes < 2:
            raise InvalidArgumentError(f"MC dropout needs passes >= 2, got {passes}")
        self.model = copy.deepcopy(model).eval()
        self.passes = passes
        self.seed = int(seed)
        layers = [m for m in self.model.modules() if type(m) in _MASKED]
        if not layers:
            raise InvalidArgumentError("MC dropout needs a model with dropout layers; this one has none")
        self._masks: dict[int, torch.Tensor] = {}
        for number, layer in enumerate(layers):
            layer.register_forward_hook(self._hook(number, layer))

    @property
    def num_members(self) -> int:
        return self.passes

    def _hook(self, number: int, layer: nn.Module):
        keep = 1.0 - float(layer.p)

        def apply_mask(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            x = inputs[0]  # use the input: the layer is the identity in eval mode, random in train mode
            features = tuple(x.shape[1:])
            mask_shape = features if type(module) is nn.Dropout else (features[0],) + (1,) * (len(features) - 1)
            mask = self._masks.get(number)
            if mask is None or mask.shape[1:] != mask_shape or mask.device != x.device:
                g = torch.Generator(device="cpu")
                g.manual_seed(self.seed * 1_000_003 + number)
                drawn = torch.rand((self.passes, *mask_shape), generator=g) < keep
                mask = (drawn.float() / keep if keep > 0 else drawn.float()).to(x.device)
                self._masks[number] = mask
            rows = x.shape[0] // self.passes
            return (x.reshape(self.passes, rows, *features) * mask.unsqueeze(1)).reshape(x.shape)

        return apply_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        repeated = x.unsqueeze(0).expand(self.passes, *x.shape).reshape(self.passes * n, *x.shape[1:])
        logits = self.model(repeated)  # [T·N, C], pass-major
        c = logits.shape[1]
        return logits.view(self.passes, n, c).transpose(0, 1).reshape(n, self.passes * c)


def num_members(model: nn.Module) -> int:
    """M for an :class:`Ensemble` or :class:`MCDropout`, 1 for any other model."""
    return int(getattr(model, "num_members", 1))
