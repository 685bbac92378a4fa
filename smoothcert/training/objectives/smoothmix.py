"""SmoothMix (Jeong et al. 2021, https://arxiv.org/abs/2111.09277): mixup between an input and an adversarial
example of the soft smoothed classifier, trained towards a target that grows less confident along the way.

For each input, m noise samples δ_i are drawn once and shared by the attack and the loss. With the soft smoothed
classifier F̂(x) = (1/m) Σ_i F(x + δ_i), F = softmax ∘ f, T normalized-gradient ascent steps of size α on
−log F̂_y give x^(0) = x, x^(1), …, x^(T) (each projected onto the ε-ball around x when ε is given; unbounded
otherwise, as in the paper). The mixup runs from x_s = x^(k), k = ``mix_step`` (0: the input, 1: the one-step
adversary, kept within radius α·k·w of x), to x_adv = x^(T):

    x_mix = (1 − λ) x_s + λ x_adv,       ŷ_mix = (1 − λ) F̂(x) + λ · u,       λ ~ U[0, ½] per input,

u the uniform distribution over the classes, and the loss is

    L = (1/m) Σ_i CE(f(x + δ_i), y) + η · w · (1/m) Σ_i 1[argmax F̂(x) = y] · KL(ŷ_mix ‖ F(x_mix + δ_i)),

batch means, gradients through F̂(x) in the target as well. w = min(1, epoch / warmup) ramps the mixup term
(and the radius of x_s) in over the first ``warmup`` epochs. The attack runs on the model in evaluation mode;
inputs are not clipped to a range. λ is drawn from the generator after the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attacks.norms import ascent_direction, project_ball
from ...errors import InvalidArgumentError
from ...noise import Noise
from ...validate import check_count, check_int, check_positive
from .base import Objective
from .noisy import check_copies, check_noise

#: Floor of probabilities inside logarithms.
TINY = 1e-20


def smoothmix_pgd_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, alpha: float,
                     steps: int, mix_step: int, eps: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothMix's attack on the soft smoothed classifier; x [B, ...], noise [m, B, ...] (fixed samples).

    Returns (x^(mix_step), x^(steps)): the iterate after ``mix_step`` steps and the last one, each after
    ``steps`` normalized-gradient steps of size α on −log F̂_y (projected onto the ε-ball when ε is given).
    """
    m = noise.shape[0]
    adv = x.detach().clone()
    start = adv
    for i in range(steps):
        if i == mix_step:
            start = adv
        adv = adv.detach().requires_grad_(True)
        logits = model((adv.unsqueeze(0) + noise).flatten(0, 1)).view(m, len(x), -1)
        soft = F.softmax(logits, 2).mean(0)
        loss = F.nll_loss(soft.clamp_min(TINY).log(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + alpha * ascent_direction(grad, "l2")
            if eps is not None:
                adv = project_ball(adv, x, eps, "l2")
    return start.detach(), adv.detach()


@dataclass
class SmoothMixObjective(Objective):
    """Mean CE over m noisy copies + η·w·(masked KL from the mixup target on noisy mixed inputs).

    Attributes:
        noise: the training noise (a :class:`~smoothcert.noise.Noise`).
        m: noise samples per input (``num_noise_vec``; the paper on MNIST: 4, on CIFAR-10: 2).
        steps: T, attack steps (the paper on MNIST: 2, 4, 8 at σ = 0.25, 0.5, 1; on CIFAR-10: 4).
        alpha: α, the ℓ2 step size in input units (the paper on MNIST: 1.0; on CIFAR-10: 0.5, 1, 2 at σ = 0.25,
            0.5, 1).
        eta: η, weight of the mixup term (the paper: 5 or 1 on MNIST, 5 on CIFAR-10).
        mix_step: k, the iterate at the clean end of the mixup (0: the input; 1: the one-step adversary), < T.
        eps: ε, the largest ℓ2 distance of the attack from the input; None: unbounded (the paper).
        warmup: epochs over which w grows linearly to 1 (the paper: 10); 0: w = 1 from the start.
    Terms: ``ce``, ``mixup`` (the masked KL term without η·w), ``train_accuracy`` (of F̂ on the clean noisy
    copies: the fraction of inputs in the mask); per epoch: ``eta`` (η·w).
    """

    noise: Noise
    m: int = 4
    steps: int = 4
    alpha: float = 1.0
    eta: float = 5.0
    mix_step: int = 0
    eps: float | None = None
    warmup: int = 10

    name = "smoothmix"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        self.m = check_copies("m (num_noise_vec)", self.m)
        self.steps = check_count("steps", self.steps)
        self.alpha = check_positive("alpha", self.alpha)
        self.eta = check_positive("eta", self.eta, allow_zero=True)
        self.mix_step = check_int("mix_step", self.mix_step, minimum=0)
        if self.mix_step >= self.steps:
            raise InvalidArgumentError(f"mix_step must be < steps ({self.steps}), got {self.mix_step}")
        if self.eps is not None:
            self.eps = check_positive("eps", self.eps)
        self.warmup = check_int("warmup", self.warmup, minimum=0)

    def weight_at(self, epoch: int) -> float:
        """w of epoch ``epoch`` (1-based): min(1, epoch / warmup)."""
        return 1.0 if self.warmup == 0 else min(1.0, epoch / self.warmup)

    def start_epoch(self, epoch: int) -> dict:
        return {"eta": self.eta * self.weight_at(epoch)}

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        b, w = len(x), self.weight_at(epoch)
        noise = self.noise.sample_(x.new_empty((self.m, *x.shape)), generator)  # [m, B, ...], copy by copy
        model.eval()  # attack the model as it will be used (BatchNorm statistics, no dropout)
        start, adv = smoothmix_pgd_l2(model, x, y, noise, self.alpha, self.steps, self.mix_step, self.eps)
        model.train()
        if self.mix_step > 0:
            start = project_ball(start, x, self.alpha * self.mix_step * w, "l2")
        logits = model((x.unsqueeze(0) + noise).flatten(0, 1))  # [m·B, C]
        ce = F.cross_entropy(logits, y.repeat(self.m))
        mean = F.softmax(logits, 1).view(self.m, b, -1).mean(0)  # F̂(x) [B, C]
        lam = torch.rand(b, generator=generator, device=x.device, dtype=x.dtype) / 2
        spread = lam.view(-1, *([1] * (x.dim() - 1)))
        mixed = (1 - spread) * start + spread * adv
        target = (1 - lam)[:, None] * mean + lam[:, None] / mean.shape[1]  # ŷ_mix [B, C]
        log_q = F.log_softmax(model((mixed.unsqueeze(0) + noise).flatten(0, 1)), 1).view(self.m, b, -1)
        kl = (torch.xlogy(target, target) - target * log_q).sum(2)  # [m, B]
        correct = (mean.argmax(1) == y).to(kl.dtype)
        mixup = (kl * correct).mean()
        terms = {"ce": float(ce.detach()), "mixup": float(mixup.detach()),
                 "train_accuracy": float(correct.mean())}
        return ce + self.eta * w * mixup, terms

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "m": self.m, "steps": self.steps,
                "alpha": self.alpha, "eta": self.eta, "mix_step": self.mix_step, "eps": self.eps,
                "warmup": self.warmup}
