"""Saving and loading a trained mixing network: safetensors weights plus a JSON sidecar (never a pickle).

Only the mixing network's tensors are written; the two base models are separate checkpoints, named in the
sidecar by whoever saves it, and are handed back to :func:`load_mixing`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CheckpointError, InvalidArgumentError
from .mixed import MixedClassifier
from .mixing_net import MixingNetwork

MIXING_FORMAT = "smoothcert-mixing-network"


def mixing_paths(stem: str | Path) -> tuple[Path, Path]:
    """(``stem.safetensors``, ``stem.json``), appended to the stem so a dotted name keeps its dot."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_mixing(model: MixedClassifier, stem: str | Path, meta: dict) -> tuple[Path, Path]:
    """Write the mixing network's tensors to ``stem.safetensors`` and a sidecar ``stem.json``.

    ``meta`` should name the base checkpoints (``standard``, ``robust``) and record the training config.
    """
    if model.mixing is None:
        raise InvalidArgumentError("the model has no mixing network to save")
    weights, sidecar = mixing_paths(stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.mixing.state_dict().items()}, str(weights))
    doc = {"format": MIXING_FORMAT, "network": model.mixing.config(), "s_g": model.s_g, "s_h": model.s_h, **meta}
    sidecar.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return weights, sidecar


def load_mixing(stem: str | Path, standard: nn.Module, robust: nn.Module, example: torch.Tensor) -> MixedClassifier:
    """Rebuild a trained MixedClassifier from :func:`save_mixing`'s files around the given base models.

    ``example`` is one input [1, ...] on the target device (it sizes the network's feature taps).
    """
    weights, sidecar = mixing_paths(stem)
    if not sidecar.is_file() or not weights.is_file():
        raise CheckpointError(f"mixing network not found: {weights} with {sidecar.name}")
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{sidecar} is not valid UTF-8 JSON: {str(err).splitlines()[0]}") from err
    if doc.get("format") != MIXING_FORMAT:
        raise CheckpointError(f"{sidecar} is not a smoothcert mixing-network sidecar")
    cfg = doc["network"]
    net = MixingNetwork(standard, robust, example, standard_layers=cfg["standard_layers"],
                        robust_layers=cfg["robust_layers"], width=cfg["width"], blocks=cfg["blocks"],
                        bn_momentum=cfg["bn_momentum"])
    try:
        net.load_state_dict(load_file(str(weights)))
    except (SafetensorError, RuntimeError, OSError, ValueError) as err:
        raise CheckpointError(f"mixing weights {weights} do not fit: {str(err).splitlines()[0]}") from err
    return MixedClassifier(standard, robust, mixing=net.to(example.device), s_g=doc["s_g"], s_h=doc["s_h"]).eval()
