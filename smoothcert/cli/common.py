"""Pieces every command shares: error handling, devices, option groups, loading a model with its data."""

from __future__ import annotations

import sys

import click
import torch

from ..errors import InputError, InvalidArgumentError, SmoothcertError
from ..validate import check_num_classes

EXIT_USAGE = 2


class SmoothcertGroup(click.Group):
    """Turns smoothcert's exceptions into one line and exit code 2, and Ctrl-C into a resume hint."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SmoothcertError as err:
            click.echo(f"smoothcert: error: {err}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("smoothcert: interrupted; rows written so far are kept (rerun with --resume)", err=True)
            sys.exit(130)


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise InvalidArgumentError(f"unknown device {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(f"device {name!r} asked for, but CUDA is not available")
    return device


def parse_batch_size(text: str) -> int | str:
    """An integer ≥ 1, or 'auto' (the fastest of a few sizes, measured by the engine on the first inputs)."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError as err:
        raise InvalidArgumentError(f"--batch-size must be an integer or 'auto', got {text!r}") from err
    if value < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {value}")
    return value


#: Options that change where, how fast or how verbosely a run goes, never its results: left out of the
#: manifest's arguments, so a run may be resumed with other values of them.
NOT_RESULT_OPTIONS = frozenset(
    {"resume", "overwrite", "quiet", "device", "batch_size", "out", "compile_model", "no_timing", "threads"}
)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch (None: leave torch's default, one per core)."""
    if threads is None:
        return
    if threads < 1:
        raise InvalidArgumentError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def parse_floats(text: str, what: str) -> list[float]:
    """'0,0.25,0.5' → [0.0, 0.25, 0.5]."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise InvalidArgumentError(f"{what} must be comma-separated numbers, got {text!r}") from err


# --- shared options ---------------------------------------------------------------------------------------

def data_options(f):
    f = click.option("--data-dir", type=click.Path(), default=None,
                     help="Folder of the MNIST IDX files (default: $SMOOTHCERT_DATA_DIR or the user cache).")(f)
    f = click.option("--download", is_flag=True, help="Download MNIST if missing (checks MD5).")(f)
    f = click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the train/test split.")(f)
    return f


def model_options(f):
    f = click.option("--checkpoint", type=click.Path(), default=None,
                     help="smoothcert checkpoint (model.safetensors with model.json beside it).")(f)
    f = click.option("--model", "model_spec", default=None, metavar="MODULE:FACTORY",
                     help="Your own model: a factory returning an nn.Module (inputs in [0,1]).")(f)
    f = click.option("--weights", type=click.Path(), default=None, help="safetensors weights for --model.")(f)
    f = click.option("--num-classes", type=int, default=None, help="Classes of --model (default: the data's).")(f)
    f = click.option("--dataset", default=None,
                     help="digits | mnist | blobs | concentric | moons | FILE.npz (default: the checkpoint's).")(f)
    return f


def smoothing_options(f):
    f = click.option("--sigma", type=float, required=True, help="Noise level σ (input units, inputs in [0,1]).")(f)
    f = click.option("--alpha", type=float, default=0.001, show_default=True, help="Failure probability.")(f)
    f = click.option("--batch-size", default="auto", show_default=True,
                     help="Noisy copies per forward pass, or 'auto': the fastest for this model and machine, "
                          "measured before the run (compiled models compile once per size tried).")(f)
    f = click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
                     help="bf16: sample under bfloat16 autocast (the base classifier is then the bf16 model).")(f)
    f = click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option("--threads", type=int, default=None,
                     help="CPU threads for sampling (default: one per core). Changes speed, never results.")(f)
    f = click.option("--skip", type=int, default=1, show_default=True, help="Use every SKIP-th test input.")(f)
    f = click.option("--max", "max_inputs", type=int, default=None, help="Use at most MAX test inputs.")(f)
    f = click.option("--out", type=click.Path(), required=True, help="Result TSV (manifest: same name, .json).")(f)
    f = click.option("--resume", is_flag=True, help="Continue an interrupted run from its TSV.")(f)
    f = click.option("--overwrite", is_flag=True, help="Replace an existing TSV.")(f)
    f = click.option("--no-timing", is_flag=True, help="Write 0 in the time column (byte-identical reruns).")(f)
    f = click.option("--quiet", is_flag=True, help="No progress bar.")(f)
    f = click.option("--compile", "compile_model", is_flag=True,
                     help="Compile the model (torch.compile): a few seconds once, then faster sampling.")(f)
    return f


def _load_model_and_data(opts: dict, device: torch.device):
    from ..data import load_dataset
    from ..models import load_checkpoint, load_user_model

    if bool(opts["checkpoint"]) == bool(opts["model_spec"]):
        raise InvalidArgumentError("give exactly one of --checkpoint or --model")
    if opts["checkpoint"] and opts.get("weights"):
        raise InvalidArgumentError("--weights goes with --model; a --checkpoint carries its own weights")
    if opts.get("num_classes") is not None:
        check_num_classes(opts["num_classes"])
    info = None
    if opts["checkpoint"]:
        model, info = load_checkpoint(opts["checkpoint"], device)
    else:
        model = load_user_model(opts["model_spec"], opts["weights"]).to(device)
    dataset_name = opts["dataset"] or (info.dataset if info else None)
    if not dataset_name:
        raise InvalidArgumentError("--dataset is required with --model")
    data = load_dataset(dataset_name, data_dir=opts["data_dir"], seed=opts["data_seed"], download=opts["download"])
    if info is not None and tuple(info.input_shape) != data.input_shape:
        raise InputError(f"the checkpoint expects inputs {tuple(info.input_shape)}, "
                         f"but {dataset_name} has {data.input_shape}")
    num_classes = opts["num_classes"] if opts["num_classes"] is not None else (
        info.num_classes if info else data.num_classes)
    return model, info, data, num_classes


def run_smoothed(kind: str, opts: dict) -> None:
    from ..certificates.sequential import SequentialConfig
    from ..models.checkpoint import asdict_info
    from ..pipeline import certify_dataset, predict_dataset, select_indices
    from ..runs import RunOptions
    from ..smooth import Smooth

    set_threads(opts.get("threads"))
    device = pick_device(opts["device"])
    model, info, data, num_classes = _load_model_and_data(opts, device)
    smooth = Smooth(model, num_classes, opts["sigma"], batch_size=parse_batch_size(opts["batch_size"]),
                    seed=opts["seed"], device=device, compile=opts["compile_model"], precision=opts["precision"])
    indices = select_indices(len(data.x_test), opts["skip"], opts["max_inputs"])
    arguments = {k: v for k, v in opts.items() if k not in NOT_RESULT_OPTIONS}
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note,
                                                   "test_inputs": len(data.x_test), "selected": len(indices)},
               "model": asdict_info(info) if info else {"spec": opts["model_spec"], "weights": opts["weights"]},
               "noise": smooth.noise.to_dict()}  # the pipeline adds the engine's settings
    options = RunOptions(resume=opts["resume"], overwrite=opts["overwrite"], record_time=not opts["no_timing"],
                         progress=not opts["quiet"])
    common = dict(indices=indices, arguments=arguments, options=options, context=context)
    if kind == "certify":
        sequential = None
        if opts.get("sequential"):
            sequential = SequentialConfig(n_max=opts["n"], radius=opts["preset_radius"], tolerance=opts["tolerance"])
        elif opts.get("preset_radius") is not None or opts.get("tolerance") is not None:
            raise InvalidArgumentError("--radius and --tolerance need --sequential")
        stats = certify_dataset(smooth, data.x_test, data.y_test, opts["out"], n0=opts["n0"], n=opts["n"],
                                alpha=opts["alpha"], sequential=sequential, **common)
    else:
        stats = predict_dataset(smooth, data.x_test, data.y_test, opts["out"], n=opts["n"], alpha=opts["alpha"],
                                **common)
    click.echo(f"{kind}: {stats['inputs']} inputs in {stats['seconds']:.1f} s "
               f"({stats['samples'] / max(stats['seconds'], 1e-9):,.0f} samples/s) → {opts['out']}")
    click.echo(f"data: {data.split_note}")
