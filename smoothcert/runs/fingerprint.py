"""Content fingerprints that key a resumed run: the model's weights, the data and the arguments.

A results file is resumed only by the run that made it: same weights, same data, same arguments, compared by
SHA-256 rather than by the paths they were read from, so the same checkpoint under another path resumes and a
model retrained to the same path does not.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


def _update(digest: hashlib._Hash, tensor: torch.Tensor) -> None:
    """Feed one tensor's dtype, shape and bytes (row-major, on the CPU) to ``digest``."""
    t = tensor.detach()
    digest.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
    if t.numel():
        # As raw bytes whatever the dtype (bfloat16 and bool included) and whatever the memory format.
        flat = t.to("cpu").contiguous().reshape(-1).view(torch.uint8)
        digest.update(memoryview(flat.numpy()))


def tensors_fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """``sha256:<hex>`` over the named tensors in sorted name order (name, dtype, shape, bytes of each)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(f"{name}\0".encode())
        _update(digest, tensors[name])
    return f"sha256:{digest.hexdigest()}"


#: model → (the state of its tensors when hashed, the fingerprint): a σ sweep hashes its model once.
_MODEL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_fingerprint(model: nn.Module) -> str:
    """The fingerprint of ``model``'s weights: its state dict (parameters and persistent buffers) hashed by
    :func:`tensors_fingerprint`. Independent of device and memory format (channels-last and compiled copies
    of the same weights agree). Computed once per model and reused until a tensor is changed in place."""
    state = model.state_dict()
    try:
        # Every in-place change (an optimizer step, load_state_dict) bumps a tensor's version counter.
        version = tuple((k, v.data_ptr(), v._version) for k, v in state.items())
    except RuntimeError:  # tensors made under inference mode keep no version counter: hash every time
        return tensors_fingerprint(state)
    cached = _MODEL_CACHE.get(model)
    if cached is not None and cached[0] == version:
        return cached[1]
    value = tensors_fingerprint(state)
    _MODEL_CACHE[model] = (version, value)
    return value


def data_fingerprint(*tensors: torch.Tensor) -> str:
    """The fingerprint of a run's data (inputs, labels), in the order given."""
    return tensors_fingerprint({f"{k:04d}": t for k, t in enumerate(tensors)})


def arguments_fingerprint(arguments: Mapping[str, object]) -> str:
    """``sha256:<hex>`` of the arguments as a manifest stores them (JSON, keys sorted)."""
    text = json.dumps(json.loads(json.dumps(dict(arguments), default=str)), sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def file_fingerprint(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"
