"""CAT-RS, confidence-aware training of smoothed classifiers (Jeong, Kim & Shin, AAAI 2023,
https://arxiv.org/abs/2212.09000): a per-input choice of objective by the input's accuracy under noise.

For each input, m noise samples δ_1 … δ_m are drawn; p̂ = (1/m) Σ_i 1[argmax f(x + δ_i) = y] is its accuracy
under noise (a cheap proxy of how robust the smoothed classifier can be there), and K ~ Binomial(m, p̂), at
least 1. With the per-copy cross-entropies sorted, CE_(1) ≤ … ≤ CE_(m):

    L_low  = (1/m) Σ_{i ≤ K} CE_(i)                                   (the K easiest copies only)
    L_high = max_i KL(ŷ ‖ F(x + δ*_i)),  δ*_i ≈ argmax_{‖δ' − δ_i‖₂ ≤ ε} KL(ŷ ‖ F(x + δ'))
    L      = L_low + λ · 1[K = m] · L_high                             (batch mean)

An input the model rarely gets right under noise is trained on its easiest noise samples only (it is not worth
robustness elsewhere); one it gets right under every sample (K = m) is also trained on the worst noise near each
sample. The search for δ*_i takes T normalized-gradient steps of size 2ε/T from δ_i, each projected onto the ε-ball
around δ_i and then moved back to δ_i's own mean and standard deviation over the coordinates (so δ*_i stays a
plausible noise sample, as in the paper). ŷ is the smoothed prediction at x: here the mean softmax of the m noisy
copies under the model being trained, held fixed (the reference code reads it from a Gaussian-trained model's
N = 10,000-sample vote fractions, computed before training). The search runs on the model in evaluation mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attacks.norms import ascent_direction, project_ball
from ...noise import Noise
from ...validate import check_count, check_positive
from .base import Objective
from .noisy import check_copies, check_noise


def _match_moments(v: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """v [R, ...] with each row's mean and standard deviation over its coordinates set to ``reference``'s."""
    flat, ref = v.flatten(1), reference.flatten(1)
    mu, s = flat.mean(1, keepdim=True), flat.std(1, unbiased=False, keepdim=True)
    mu0, s0 = ref.mean(1, keepdim=True), ref.std(1, unbiased=False, keepdim=True)
    return (mu0 + (flat - mu) * (s0 / s.clamp_min(1e-12))).view_as(v)


def worst_noise(model: nn.Module, x: torch.Tensor, noise: torch.Tensor, target: torch.Tensor, eps: float,
                steps: int) -> torch.Tensor:
    """CAT-RS's search for the worst noise near each sample.

    Args:
        x: inputs [B, ...]; noise: their samples δ [m, B, ...]; target: ŷ [B, C] (probabilities, fixed).
        eps: ε, the ℓ2 radius around each δ_i (input units); steps: T.
    Returns:
        δ* [m, B, ...]: T steps of size 2ε/T along the normalized gradient of Σ_i KL(ŷ ‖ F(x + δ'_i)), each
        projected onto the ε-ball around δ_i, then given δ_i's mean and standard deviation.
    """
    m, b = noise.shape[0], len(x)
    start = noise.detach().flatten(0, 1)  # [m·B, ...]
    cur = start.clone()
    inputs = x.detach().repeat(m, *([1] * (x.dim() - 1)))
    step = 2 * eps / steps
    for _ in range(steps):
        cur.requires_grad_(True)
        log_q = F.log_softmax(model(inputs + cur), 1).view(m, b, -1)
        loss = (target * (target.clamp_min(1e-20).log() - log_q)).sum()
        (grad,) = torch.autograd.grad(loss, cur)
        with torch.no_grad():
            cur = project_ball(cur + step * ascent_direction(grad, "l2"), start, eps, "l2")
            cur = _match_moments(cur, start)
    return cur.detach().view_as(noise)


@dataclass
class CatRsObjective(Objective):
    """Bottom-K cross-entropy for every input + λ · the worst-noise KL for inputs right under all m samples.

    Attributes:
        noise: the training noise (a :class:`~smoothcert.noise.Noise`).
        m: noise samples per input (``num_noise_vec``; the paper: 4 on MNIST and CIFAR-10, 2 on ImageNet).
        eps: ε, the ℓ2 radius of the search around each noise sample, input units (the paper: 1.0 = 256/256).
        steps: T, steps of the search (the paper: 4; 1 on ImageNet).
        lbd: λ, weight of L_high (the paper: 0.5, 1, 2 at σ = 0.25, 0.5, 1).
    Terms: ``low`` (L_low), ``high`` (L_high over the inputs with K = m; 0 when there are none), ``accepted``
    (fraction of the batch with K = m), ``train_accuracy`` (mean p̂).
    """

    noise: Noise
    m: int = 4
    eps: float = 1.0
    steps: int = 4
    lbd: float = 1.0

    name = "catrs"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        self.m = check_copies("m (num_noise_vec)", self.m)
        self.eps = check_positive("eps", self.eps)
        self.steps = check_count("steps", self.steps)
        self.lbd = check_positive("lbd", self.lbd, allow_zero=True)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        m, b = self.m, len(x)
        noise = self.noise.sample_(x.new_empty((m, *x.shape)), generator)  # [m, B, ...], copy by copy
        logits = model((x.unsqueeze(0) + noise).flatten(0, 1)).view(m, b, -1)
        ce = F.cross_entropy(logits.flatten(0, 1), y.repeat(m), reduction="none").view(m, b)
        p_hat = (logits.detach().argmax(2) == y).to(x.dtype).mean(0)  # [B]
        # K ~ Binomial(m, p̂) as m Bernoulli draws from the run's generator, at least 1 (as the paper).
        k = (torch.rand((m, b), generator=generator, device=x.device, dtype=x.dtype) < p_hat).sum(0).clamp_min(1)
        kept = torch.arange(m, device=x.device)[:, None] < k  # [m, B]: the K smallest CE of each input
        low = (ce.sort(0).values * kept).sum(0) / m  # [B]
        high = torch.zeros_like(low)
        full = k == m
        if self.lbd > 0 and bool(full.any()):
            target = F.softmax(logits.detach()[:, full], 2).mean(0)  # ŷ [B', C], held fixed
            model.eval()  # search the model as it will be used (BatchNorm statistics, no dropout)
            adv = worst_noise(model, x[full], noise[:, full], target, self.eps, self.steps)
            model.train()
            log_q = F.log_softmax(model((x[full].unsqueeze(0) + adv).flatten(0, 1)), 1).view(m, len(target), -1)
            kl = (torch.xlogy(target, target) - target * log_q).sum(2)  # [m, B']
            high = high.index_put((full.nonzero(as_tuple=True)[0],), kl.max(0).values)
        terms = {"low": float(low.detach().mean()),
                 "high": float(high.detach()[full].mean()) if bool(full.any()) else 0.0,
                 "accepted": float(full.to(x.dtype).mean()), "train_accuracy": float(p_hat.mean())}
        return (low + self.lbd * high).mean(), terms

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "m": self.m, "eps": self.eps, "steps": self.steps,
                "lbd": self.lbd}
