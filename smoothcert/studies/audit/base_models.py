"""The audited base models: trained (or reused) in the audit folder, or given as checkpoints; one engine each,
checked on one input before anything is written; and the torch threads they run with."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from smoothcert.engine import Engine
from smoothcert.errors import InputError, InvalidArgumentError
from smoothcert.smooth import Smooth

from .folder import Echo, sigma_name

__all__ = ["NOISE", "STANDARD", "load_models", "model_path", "reusable_checkpoint", "smooth_models", "torch_threads",
           "train_models"]

STANDARD = "standard"
NOISE = "noise"


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` torch threads (None: leave the setting alone), restoring it after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reusable_checkpoint(path: Path, train_config, architecture: str, dataset: str,
                        arch_args: Mapping[str, object] | None = None) -> bool | None:
    """Whether the checkpoint at ``path`` was trained with these settings: None when there is none."""
    from smoothcert.models import read_info
    from smoothcert.models.checkpoint import checkpoint_paths

    if not checkpoint_paths(path)[1].is_file():
        return None
    info = read_info(path)
    wanted = asdict(train_config)
    recorded = {k: info.training.get(k) for k in wanted}
    return (recorded == wanted and info.architecture == architecture and info.dataset == dataset
            and (arch_args is None or info.arch_args == dict(arch_args)))


def model_path(out: Path, key: str) -> Path:
    """The checkpoint stem of the trained model ``key`` in the audit folder ``out`` (a dot in the key would be
    taken for a file suffix)."""
    return Path(out) / "models" / key.replace(".", "p")


def train_models(config, data, out: Path, *, progress: bool = True,
                 echo: Echo = print) -> dict[str, tuple[nn.Module, float]]:
    """The base models of a full audit (``config``: an :class:`~.config.AuditConfig`): ``standard`` (no noise)
    and ``noise_S`` (Gaussian augmentation at each σ = S), saved under ``out/models`` and reused there when
    their training settings match; other settings are refused.

    Returns:
        key → (model in eval mode, training σ).
    """
    from smoothcert.models import load_checkpoint, read_info
    from smoothcert.models.checkpoint import checkpoint_paths
    from smoothcert.training import TrainConfig, train_base_model

    epochs, batch, lr = config.training()
    models = {}
    for train_sigma in (0.0, *config.sigmas):
        key = STANDARD if train_sigma == 0 else f"noise_{sigma_name(train_sigma)}"
        path = model_path(out, key)
        train_config = TrainConfig(train_sigma=train_sigma, epochs=epochs, batch_size=batch, lr=lr, seed=config.seed)
        reuse = reusable_checkpoint(path, train_config, config.arch, data.name)
        if reuse:
            model, _ = load_checkpoint(path, config.device)
            models[key] = (model, train_sigma)
            echo(f"  reusing {key} (clean test accuracy {read_info(path).test_accuracy:.4f})")
            continue
        if reuse is False:
            raise InvalidArgumentError(f"{checkpoint_paths(path)[0]} was trained with other settings; "
                                       "audit into a new folder")
        t0 = time.perf_counter()
        model, info, _ = train_base_model(data, config.arch, train_config, path, device=config.device,
                                          progress=progress)
        echo(f"  trained {key}: {epochs} epochs in {time.perf_counter() - t0:.1f} s, clean test accuracy "
             f"{info.test_accuracy:.4f}")
        models[key] = (model.eval(), train_sigma)
    return models


def load_models(checkpoints: Mapping[str, str | Path], data, device: str,
                redraw=None) -> dict[str, tuple[nn.Module, float]]:
    """Given checkpoints (label → path) as key → (model in eval mode, training σ); a checkpoint made for other
    inputs than ``data``'s raises InputError, and one whose training inputs are among ``data``'s test inputs
    raises SplitOverlapError, as certify does (``redraw(seed, test_size)`` loads the data with the model's
    split, to find the overlap; without it a differing split cannot be checked and passes)."""
    from smoothcert.data import compare_split
    from smoothcert.data.split import OVERLAP
    from smoothcert.errors import SplitOverlapError
    from smoothcert.models import load_checkpoint

    models = {}
    for label, path in checkpoints.items():
        model, info = load_checkpoint(path, device)
        if tuple(info.input_shape) != tuple(data.input_shape):
            raise InputError(f"checkpoint {label} ({path}) expects inputs {tuple(info.input_shape)}, "
                             f"but {data.name} has {tuple(data.input_shape)}")
        check = compare_split(info.split, data, redraw)
        if check.status == OVERLAP:
            raise SplitOverlapError(f"checkpoint {label}: {check.message(data.name).split('; certify with')[0]}; "
                                    f"audit with --data-seed {check.model_seed}")
        models[label] = (model, float(info.train_sigma))
    return models


def smooth_models(models: Mapping[str, tuple[nn.Module, float]], data, config) -> tuple[dict[str, Smooth], int]:
    """One Smooth per model, each around its own engine (its compiled forward pass serves every σ: a stage
    changes only the noise), and the batch size used. Each model is first checked by one clean forward pass
    on the first test input: one that does not fit the data raises InputError here, before any sampling.

    A batch size "auto" is measured once, on the first model: the audit's models share an architecture.
    """
    batch_size = config.batch_size
    smooths = {}
    for key, (model, _) in models.items():
        engine = Engine(model, device=config.device, compile=config.compile, batch_size=batch_size)
        smooth = Smooth(engine, data.num_classes, config.sigmas[0], seed=config.seed)
        try:
            smooth.check_model(data.x_test[:1])
        except InputError as err:
            raise InputError(f"model {key}: {err}") from err
        batch_size = engine.batch_size_for(data.input_shape)
        smooths[key] = smooth
    return smooths, batch_size
