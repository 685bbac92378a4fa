"""Checkpoints: safetensors weights plus a JSON sidecar. Loading never unpickles anything.

``model.safetensors`` holds the tensors; ``model.json`` beside it records how to rebuild the model
(architecture and arguments, input shape, classes, normalization) and how it was made (dataset and its split,
training noise, seed, test accuracy). Loading checks that the two agree, tensor by tensor.

A checkpoint is data: loading one runs no code of its author. :func:`load_user_model` is the other way in:
it imports and runs the user's own module (``--model``), and loads only safetensors weights into it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CheckpointError, InvalidArgumentError, SmoothcertError
from .zoo import build_model

FORMAT = "smoothcert-checkpoint"
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    """What a sidecar records. ``input_shape`` is one input's shape; σ values are in input units.

    ``split`` is the training data's split as data (:meth:`smoothcert.data.Dataset.split_record`: data set,
    seed, sizes, pool fingerprint, sha256 of the sorted test indices); empty in checkpoints that predate it.
    """

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
    split: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        """A fresh (untrained) model of the recorded architecture."""
        return build_model(self.architecture, self.input_shape, self.num_classes, self.mean, self.std,
                           **self.arch_args)


#: Suffixes of pickled PyTorch files, which are never loaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


def pickle_refusal(path: str | Path) -> str:
    """The one line a pickled PyTorch file gets, with the conversion to safetensors."""
    return (f"{path}: PyTorch pickles are not loaded; convert to safetensors with "
            f"safetensors.torch.save_file(torch.load('{path}', weights_only=True), 'model.safetensors') and pass "
            "--model MODULE:FACTORY --weights model.safetensors (docs/certification.md, 'Your own model')")


def _refuse_pickle(path: str | Path) -> None:
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(pickle_refusal(path))


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) paths for ``path`` given as either file or as a stem without suffix."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    # Append rather than replace: a stem such as "alpha_0.25" keeps its dot.
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(model: nn.Module, path: str | Path, info: CheckpointInfo) -> tuple[Path, Path]:
    """Write ``model``'s state dict as safetensors and ``info`` as JSON; returns both paths."""
    weights, sidecar = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    os.chmod(weights, 0o666 & ~_umask())  # safetensors creates its file 0600; honour the umask as the sidecar does
    doc = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(info),
           "tensors": {k: list(v.shape) for k, v in state.items()}}
    sidecar.write_text(json.dumps(doc, indent=2) + "\n")
    return weights, sidecar


def read_info(path: str | Path) -> CheckpointInfo:
    """Parse and validate a sidecar."""
    _refuse_pickle(path)
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
    """A user's own model from ``"package.module:factory"`` or ``"path/to/file.py:factory"`` (factory() →
    nn.Module), optionally with safetensors weights. This imports and runs the user's code.

    A file path is imported from its location; a module name is imported as it is, and only if it cannot be
    found is the working folder appended at the end of ``sys.path`` (so a file there never shadows a module
    the package itself imports, such as ``sklearn``). Pickled weights are refused.
    """
    factory = import_factory(spec)
    try:
        model = factory()
    except SmoothcertError:
        raise
    except Exception as err:  # the user's code: any failure is theirs, reported in one line
        raise InvalidArgumentError(f"model factory {spec!r} raised {type(err).__name__}: {err}") from err
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        weights = Path(weights)
        _refuse_pickle(weights)
        if weights.suffix != ".safetensors":
            raise CheckpointError(f"weights must be a .safetensors file (pickled files are never loaded): {weights}")
        load_weights_into(model, load_state(weights), weights)
    return model.eval()


def import_factory(spec: str):
    """The factory named by ``"package.module:factory"`` or ``"path/to/file.py:factory"``, imported."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise InvalidArgumentError(
            f"model spec must look like 'package.module:factory' or 'path/to/file.py:factory', got {spec!r}")
    try:
        if target.endswith(".py") or os.sep in target or "/" in target:
            module = _import_file(Path(target), spec)
        else:
            module = _import_module(target)
        return getattr(module, attr)
    except (ImportError, AttributeError) as err:
        raise InvalidArgumentError(f"cannot import model factory {spec!r}: {err}") from err
    except SyntaxError as err:
        raise InvalidArgumentError(f"cannot import model factory {spec!r}: {err.msg} ({err.filename}, line "
                                   f"{err.lineno})") from err
    except SmoothcertError:
        raise
    except Exception as err:  # the user's module raised while it was imported
        raise InvalidArgumentError(f"importing {target!r} for {spec!r} raised {type(err).__name__}: {err}") from err


def _import_file(path: Path, spec: str):
    """Import the Python file at ``path`` as a module of its own, without touching ``sys.path``."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InvalidArgumentError(f"model file not found: {path} (from {spec!r})")
    name = f"smoothcert_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise InvalidArgumentError(f"cannot import {path} as a Python module (from {spec!r})")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # as import does: dataclasses and the like look their module up
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_module(name: str):
    """Import ``name`` as it is; if it is not found, append the working folder to ``sys.path`` and retry."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = name.partition(".")[0]
        cwd = os.getcwd()
        if err.name != top or cwd in sys.path:
            raise
    sys.path.append(cwd)  # at the end: what is found elsewhere first stays first
    importlib.invalidate_caches()
    return importlib.import_module(name)


def asdict_info(info: CheckpointInfo) -> dict:
    """The sidecar's fields as a plain dict (for manifests)."""
    return asdict(info)
