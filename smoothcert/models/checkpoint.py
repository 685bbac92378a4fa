"""Checkpoints: safetensors weights plus a JSON sidecar. Loading never unpickles anything.

``model.safetensors`` holds the tensors; ``model.json`` beside it records how to rebuild the model
(architecture and arguments, input shape, classes, normalization) and how it was made (dataset, training
noise, seed, test accuracy). Loading checks that the two agree, tensor by tensor.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CheckpointError, InvalidArgumentError
from .zoo import build_model

FORMAT = "smoothcert-checkpoint"
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    """What a sidecar records. ``input_shape`` is one input's shape; σ values are in input units."""

    architecture: str
    input_shape: list[int]
    num_classes: int
    mean: list[float] = field(default_factory=lambda: [0.0])
    std: list[float] = field(default_factory=lambda: [1.0])
    arch_args: dict = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    dataset: str = ""
    split_note: str = ""
    train_sigma: float = 0.0
    seed: int = 0
    test_accuracy: float | None = None
    training: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        """A fresh (untrained) model of the recorded architecture."""
        return build_model(self.architecture, self.input_shape, self.num_classes, self.mean, self.std,
                           **self.arch_args)


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) paths for ``path`` given as either file or as a stem without suffix."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    # Append rather than replace: a stem such as "alpha_0.25" keeps its dot.
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(model: nn.Module, path: str | Path, info: CheckpointInfo) -> tuple[Path, Path]:
    """Write ``model``'s state dict as safetensors and ``info`` as JSON; returns both paths."""
    weights, sidecar = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    doc = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(info),
           "tensors": {k: list(v.shape) for k, v in state.items()}}
    sidecar.write_text(json.dumps(doc, indent=2) + "\n")
    return weights, sidecar


def read_info(path: str | Path) -> CheckpointInfo:
    """Parse and validate a sidecar."""
    _, sidecar = checkpoint_paths(path)
    if not sidecar.is_file():
        raise CheckpointError(f"checkpoint sidecar not found: {sidecar}")
    try:
        doc = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint sidecar {sidecar} is not valid JSON: {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar} is not a smoothcert checkpoint sidecar")
    known = set(CheckpointInfo.__dataclass_fields__)
    try:
        return CheckpointInfo(**{k: v for k, v in doc.items() if k in known})
    except TypeError as err:
        raise CheckpointError(f"checkpoint sidecar {sidecar} is incomplete: {err}") from err


def load_state(weights: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file into a state dict (no pickle involved)."""
    if not weights.is_file():
        raise CheckpointError(f"checkpoint weights not found: {weights}")
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot read weights {weights}: {err}") from err


def load_weights_into(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> nn.Module:
    """Load ``state`` into ``model`` strictly; any missing, extra or mis-shaped tensor is a CheckpointError."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or extra or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{'…' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"weights {source} do not match the model ({detail})")
    model.load_state_dict(state)
    return model


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the model a checkpoint describes, load its weights, put it in eval mode on ``device``."""
    weights, _ = checkpoint_paths(path)
    info = read_info(path)
    try:
        model = info.build()
    except InvalidArgumentError as err:
        raise CheckpointError(f"checkpoint {path} describes a model that cannot be built: {err}") from err
    load_weights_into(model, load_state(weights), weights)
    return model.to(device).eval(), info


def load_user_model(spec: str, weights: str | Path | None = None) -> nn.Module:
    """A user's own model from ``"package.module:factory"`` (factory() → nn.Module), optionally with weights.

    Weights must be a safetensors file; pickled files are refused.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidArgumentError(f"model spec must look like 'package.module:factory', got {spec!r}")
    if os.getcwd() not in sys.path:  # as `python -m` does, so a module beside the user is found
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise InvalidArgumentError(f"cannot import model factory {spec!r}: {err}") from err
    model = factory()
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        weights = Path(weights)
        if weights.suffix != ".safetensors":
            raise CheckpointError(f"weights must be a .safetensors file (pickled files are never loaded): {weights}")
        load_weights_into(model, load_state(weights), weights)
    return model.eval()


def asdict_info(info: CheckpointInfo) -> dict:
    """The sidecar's fields as a plain dict (for manifests)."""
    return asdict(info)
