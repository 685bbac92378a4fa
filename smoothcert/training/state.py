"""Per-epoch training states as safetensors + JSON, so any run of :func:`~smoothcert.training.loop.fit` can resume.

A state holds the trained module's tensors, the optimizer's tensors, the random number generators' states
(uint8 tensors, as ``Generator.get_state`` and ``torch.get_rng_state`` give them) and a JSON document (epoch,
configuration, log, the optimizer's non-tensor entries). Files are written to a temporary name and renamed,
so a state on disk is always complete; nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CheckpointError

STATE_FORMAT = "smoothcert-training-state"


def state_paths(stem: str | Path) -> tuple[Path, Path]:
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_state(stem: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
               rng: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``stem.safetensors`` (module, optimizer and RNG-state tensors) and ``stem.json`` (meta).

    ``rng`` maps a name to a generator state (uint8 tensor); ``meta`` must be JSON-able (tuples become lists).
    """
    weights, sidecar = state_paths(stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"module.{k}": v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for index, entry in opt["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    for name, value in rng.items():
        tensors[f"rng.{name}"] = value.detach().cpu().contiguous().clone()
    doc = {"format": STATE_FORMAT, **meta, "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars}}
    tmp_w, tmp_s = weights.with_suffix(".tmp"), sidecar.with_suffix(".json.tmp")
    save_file(tensors, str(tmp_w))
    tmp_s.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    tmp_w.replace(weights)
    tmp_s.replace(sidecar)  # the sidecar last: a state counts as saved once its sidecar exists


def read_meta(stem: str | Path) -> dict | None:
    """The JSON part of a saved state, or None if there is none."""
    _, sidecar = state_paths(stem)
    if not sidecar.is_file():
        return None
    try:
        doc = json.loads(sidecar.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"training state {sidecar} is not valid JSON: {err}") from err
    if doc.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{sidecar} is not a smoothcert training state")
    return doc


def load_state(stem: str | Path, module: nn.Module,
               optimizer: torch.optim.Optimizer | None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore module and optimizer in place from a saved state; returns (meta, RNG states by name)."""
    weights, _ = state_paths(stem)
    meta = read_meta(stem)
    if meta is None or not weights.is_file():
        raise CheckpointError(f"no complete training state at {stem}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot read training state {weights}: {err}") from err
    own = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
    try:
        module.load_state_dict(own)
    except RuntimeError as err:
        raise CheckpointError(f"training state {weights} does not fit the model: {str(err).splitlines()[0]}") from err
    if optimizer is not None:
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        for index, entry in meta["optimizer"]["scalars"].items():
            state.setdefault(int(index), {}).update(entry)
        optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    return meta, {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}


def to_json(value: object) -> object:
    """``value`` as it reads back from JSON (tuples as lists, …), so settings compare equal across a resume."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, tuple | set):
        return list(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return str(value)
