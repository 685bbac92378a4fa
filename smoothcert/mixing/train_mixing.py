"""Training the mixing network α(x) with both base models frozen (methods.md §5).

Each batch gets an attacked copy, made by attacking the whole composite model (classifier and α(x)) with a
random per-input radius ε ∈ U(eps_low, eps_high)·ε₀, a random per-input iteration count, and a random weight
w of the composite objective (1 − w)·CE + w·BCE(γ', 1). The loss on the clean and attacked copies is

    c_bce·BCE(γ', s) + c_ce·CE(M(x), y) + c_prod·BCE·CE,   pseudo-label s = 0 for clean, 1 for attacked inputs,

so α(x) learns to prefer the standard model on clean inputs and the robust one on attacked inputs, weighted
by how much that choice matters for the classification. Seeded, logged per epoch, resumable per epoch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..attacks import apgd, check_norm, pgd
from ..errors import CheckpointError, InputError, InvalidArgumentError
from ..training import TrainLog
from .adversarial import cosine_lr
from .mixed import MixedClassifier, composite_attack_loss
from .mixing_net import MixingNetwork
from .state import load_state, read_meta, save_state

ATTACKS = ("pgd", "apgd")
MIXING_FORMAT = "smoothcert-mixing-network"


@dataclass
class MixingConfig:
    """Mixing-network training.

    Attributes:
        eps: ε₀ of the threat model (input units); norm: "linf" or "l2".
        eps_low, eps_high: per-input radius ε = ε₀·U(eps_low, eps_high) (the paper: 0.4, 1.1).
        steps_low, steps_high: per-input attack iterations, uniform on {steps_low, …, steps_high}.
        attack: "pgd" (per-input iteration counts) or "apgd" (one random count per batch).
        attack_weight_max: w ~ U(0, attack_weight_max) per batch, weight of BCE(γ', 1) in the attack objective.
        c_bce, c_ce, c_prod: loss weights; clean_weight: weight of the clean half relative to the attacked one.
        width, blocks: size of the mixing network; s_g, s_h: temperatures of the base models' logits.
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule.
        seed: seeds the network's initialization, shuffling and attacks.
    """

    eps: float = 0.3
    norm: str = "linf"
    eps_low: float = 0.4
    eps_high: float = 1.1
    steps_low: int = 1
    steps_high: int = 6
    attack: str = "pgd"
    attack_weight_max: float = 0.4
    c_bce: float = 1.0
    c_ce: float = 0.5
    c_prod: float = 0.1
    clean_weight: float = 2.0
    width: int = 32
    blocks: int = 2
    s_g: float = 1.0
    s_h: float = 1.0
    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def validate(self) -> MixingConfig:
        self.norm = check_norm(self.norm)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise InvalidArgumentError(f"eps must be > 0, got {self.eps}")
        if not 0 <= self.eps_low <= self.eps_high:
            raise InvalidArgumentError(f"need 0 <= eps_low <= eps_high, got {self.eps_low}, {self.eps_high}")
        if not 1 <= self.steps_low <= self.steps_high:
            raise InvalidArgumentError(f"need 1 <= steps_low <= steps_high, got {self.steps_low}, {self.steps_high}")
        if self.attack not in ATTACKS:
            raise InvalidArgumentError(f"attack must be one of {ATTACKS}, got {self.attack!r}")
        if not 0 <= self.attack_weight_max <= 1:
            raise InvalidArgumentError(f"attack_weight_max must be in [0, 1], got {self.attack_weight_max}")
        if min(self.c_bce, self.c_ce, self.c_prod, self.clean_weight) < 0:
            raise InvalidArgumentError("loss weights must be >= 0")
        for name in ("epochs", "batch_size", "width"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise InvalidArgumentError(f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        return self


def build_mixed(standard: nn.Module, robust: nn.Module, example: torch.Tensor, config: MixingConfig,
                layers: dict | None = None) -> MixedClassifier:
    """A MixedClassifier with a freshly initialized (seeded) mixing network around the two frozen models."""
    cfg = config.validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = MixingNetwork(standard, robust, example, width=cfg.width, blocks=cfg.blocks, **(layers or {}))
    return MixedClassifier(standard, robust, mixing=net.to(example.device), s_g=cfg.s_g, s_h=cfg.s_h)


def mixing_loss(out_gamma: torch.Tensor, log_probs: torch.Tensor, y: torch.Tensor, s: torch.Tensor,
                weights: torch.Tensor, cfg: MixingConfig) -> tuple[torch.Tensor, dict]:
    """Weighted mean of c_bce·BCE(γ', s) + c_ce·CE + c_prod·BCE·CE over the batch; also its parts."""
    bce = F.binary_cross_entropy_with_logits(out_gamma, s, reduction="none")
    ce = F.cross_entropy(log_probs, y, reduction="none")
    per = cfg.c_bce * bce + cfg.c_ce * ce + cfg.c_prod * bce * ce
    loss = (per * weights).sum() / weights.sum()
    return loss, {"bce": float(bce.detach().mean()), "ce": float(ce.detach().mean())}


def attacked_copy(model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, cfg: MixingConfig,
                  gen: torch.Generator) -> torch.Tensor:
    """The randomized attack on the composite model that makes the training's attacked copies."""
    n = x.shape[0]
    eps = cfg.eps * (cfg.eps_low + (cfg.eps_high - cfg.eps_low) * torch.rand(n, generator=gen, device=x.device))
    weight = cfg.attack_weight_max * float(torch.rand(1, generator=gen, device=x.device))
    objective = composite_attack_loss(weight)
    if cfg.attack == "pgd":
        steps = torch.randint(cfg.steps_low, cfg.steps_high + 1, (n,), generator=gen, device=x.device)
        return pgd(model, x, y, eps, norm=cfg.norm, steps=steps, loss=objective, keep="last", generator=gen)
    steps = int(torch.randint(cfg.steps_low, cfg.steps_high + 1, (1,), generator=gen, device=x.device))
    return apgd(model, x, y, eps, norm=cfg.norm, steps=steps, loss=objective, keep="last", generator=gen)


def train_mixing(
    model: MixedClassifier,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: MixingConfig,
    *,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    state: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model.mixing`` in place (the base models stay frozen); returns the per-epoch log.

    Args:
        model: from :func:`build_mixed`.
        x_train [N, ...], y_train [N]: training data.
        x_val, y_val: if given, each epoch logs the mixture's clean accuracy and mean α on them, and mean α on
            PGD copies at ε₀ (10 steps) — whether α(x) separates clean from attacked inputs.
        state: path stem of the per-epoch training state: resumed from when present (same config required),
            rewritten after every epoch.
    """
    cfg = config.validate()
    if model.mixing is None:
        raise InvalidArgumentError("the model has no mixing network to train")
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"x_train and y_train must be non-empty and of equal length, got {len(x_train)}, "
                         f"{len(y_train)}")
    device = x_train.device
    net = model.mixing
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gens = {"shuffle": torch.Generator().manual_seed(cfg.seed + 1),
            "attack": torch.Generator(device=device).manual_seed(cfg.seed + 2)}
    history, first = TrainLog(), 1
    meta = read_meta(state) if state is not None else None
    if meta is not None:
        if meta.get("config") != asdict(cfg):
            raise InvalidArgumentError(f"cannot resume {state}: it was trained with {meta.get('config')}")
        load_state(state, net, opt, gens)
        history.epochs, first = meta["log"], meta["epoch"] + 1
    for epoch in range(first, cfg.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(cfg.lr, epoch, cfg.epochs)
        started = time.perf_counter()
        order = torch.randperm(len(x_train), generator=gens["shuffle"]).to(device)
        sums = {"loss": 0.0, "bce": 0.0, "ce": 0.0, "clean_correct": 0.0, "adv_correct": 0.0,
                "alpha_clean": 0.0, "alpha_adv": 0.0}
        bar = tqdm(range(0, len(order), cfg.batch_size), desc=f"mixing network {epoch}/{cfg.epochs}", unit="batch",
                   disable=not progress, leave=False, mininterval=0.5)
        for start in bar:
            idx = order[start : start + cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            n = len(idx)
            model.eval()  # attacks see the model as it is evaluated
            adv = attacked_copy(model, xb, yb, cfg, gens["attack"])
            model.train()
            out = model.forward_with_gamma(torch.cat([xb, adv]))
            s = torch.cat([torch.zeros(n, device=device), torch.ones(n, device=device)])
            weights = torch.cat([torch.full((n,), cfg.clean_weight, device=device), torch.ones(n, device=device)])
            loss, parts = mixing_loss(out.gamma, out.log_probs, torch.cat([yb, yb]), s, weights, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pred, alpha = out.log_probs.detach().argmax(1), out.alpha.detach()
            sums["loss"] += loss.item() * n
            sums["bce"] += parts["bce"] * n
            sums["ce"] += parts["ce"] * n
            sums["clean_correct"] += float((pred[:n] == yb).sum())
            sums["adv_correct"] += float((pred[n:] == yb).sum())
            sums["alpha_clean"] += float(alpha[:n].sum())
            sums["alpha_adv"] += float(alpha[n:].sum())
            bar.set_postfix(loss=f"{sums['loss'] / (start + n):.3f}")
        bar.close()
        total = len(order)
        record = {"epoch": epoch, **{k: v / total for k, v in sums.items()}, "seconds": time.perf_counter() - started}
        if x_val is not None and y_val is not None:
            record.update(validate(model, x_val, y_val, cfg))
        history.epochs.append(record)
        if log is not None:
            log("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if state is not None:
            save_state(state, net, opt, gens, {"epoch": epoch, "config": asdict(cfg), "log": history.epochs})
    model.eval()
    return history


def validate(model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, cfg: MixingConfig) -> dict:
    """Clean accuracy and mean α (evaluation mode, current α range) on x, and mean α on PGD copies at ε₀."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 3)
    adv = pgd(model, x, y, cfg.eps, norm=cfg.norm, steps=10, loss=composite_attack_loss(0.0), keep="last",
              generator=gen)
    with torch.no_grad():
        clean, attacked = model.forward_with_gamma(x), model.forward_with_gamma(adv)
    return {"val_clean_accuracy": float((clean.log_probs.argmax(1) == y).float().mean()),
            "val_pgd_accuracy": float((attacked.log_probs.argmax(1) == y).float().mean()),
            "val_alpha_clean": float(clean.alpha.mean()), "val_alpha_pgd": float(attacked.alpha.mean())}


# --- saving and loading the trained network ---------------------------------------------------------------

def save_mixing(model: MixedClassifier, stem: str | Path, meta: dict) -> tuple[Path, Path]:
    """Write the mixing network's tensors to ``stem.safetensors`` and a sidecar ``stem.json``.

    ``meta`` should name the base checkpoints (``standard``, ``robust``) and record the training config.
    """
    if model.mixing is None:
        raise InvalidArgumentError("the model has no mixing network to save")
    stem = Path(stem)
    weights, sidecar = stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.mixing.state_dict().items()}, str(weights))
    doc = {"format": MIXING_FORMAT, "network": model.mixing.config(), "s_g": model.s_g, "s_h": model.s_h, **meta}
    sidecar.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return weights, sidecar


def load_mixing(stem: str | Path, standard: nn.Module, robust: nn.Module, example: torch.Tensor) -> MixedClassifier:
    """Rebuild a trained MixedClassifier from :func:`save_mixing`'s files around the given base models."""
    stem = Path(stem)
    weights, sidecar = stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")
    if not sidecar.is_file() or not weights.is_file():
        raise CheckpointError(f"mixing network not found: {weights} with {sidecar.name}")
    try:
        doc = json.loads(sidecar.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{sidecar} is not valid JSON: {err}") from err
    if doc.get("format") != MIXING_FORMAT:
        raise CheckpointError(f"{sidecar} is not a smoothcert mixing-network sidecar")
    cfg = doc["network"]
    net = MixingNetwork(standard, robust, example, standard_layers=cfg["standard_layers"],
                        robust_layers=cfg["robust_layers"], width=cfg["width"], blocks=cfg["blocks"],
                        bn_momentum=cfg["bn_momentum"])
    try:
        net.load_state_dict(load_file(str(weights)))
    except (RuntimeError, OSError, ValueError) as err:
        raise CheckpointError(f"mixing weights {weights} do not fit: {str(err).splitlines()[0]}") from err
    return MixedClassifier(standard, robust, mixing=net.to(example.device), s_g=doc["s_g"], s_h=doc["s_h"]).eval()
