"""Pieces every command shares: error handling, devices, option groups, loading a model with its data."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import InputError, InvalidArgumentError, SmoothcertError
from ..signals import Terminated, stop_requests_as_interrupt
from ..validate import check_num_classes

if TYPE_CHECKING:  # torch loads when a command runs, not for --help
    import torch

EXIT_USAGE = 2


class SmoothcertGroup(click.Group):
    """Turns smoothcert's exceptions into one line and exit code 2, and Ctrl-C (or SIGTERM, SIGHUP: exit code
    128 + the signal's number) into one line saying what is kept and how to continue (``--resume`` only where the
    command has it)."""

    def invoke(self, ctx: click.Context):
        if ctx.parent is None:  # the outermost group: SIGTERM and SIGHUP stop a command as Ctrl-C does
            with stop_requests_as_interrupt():
                return self._invoke(ctx)
        return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SmoothcertError as err:
            click.echo(f"smoothcert: error: {err}", err=True)
            sys.exit(EXIT_USAGE)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a group called alone: click prints its help
        except click.UsageError as err:  # a bad option value, a missing option, an unknown command: one line too
            usage_error(err, ctx)
        except click.ClickException as err:
            click.echo(f"smoothcert: error: {' '.join(err.format_message().split())}", err=True)
            sys.exit(EXIT_USAGE)
        except BrokenPipeError:
            raise
        except OSError as err:  # a path the checks before the work did not foresee: still one line, exit 2
            click.echo(f"smoothcert: error: {os_error_line(err)}", err=True)
            sys.exit(EXIT_USAGE)
        except Terminated as err:
            click.echo(f"smoothcert: stopped by {err}; {interrupt_hint(ctx.meta.get(_INVOKED))}", err=True)
            sys.exit(128 + err.signum)
        except KeyboardInterrupt:
            click.echo(f"smoothcert: interrupted; {interrupt_hint(ctx.meta.get(_INVOKED))}", err=True)
            sys.exit(130)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[_INVOKED] = (command, list(rest))  # meta is shared down the chain: the innermost group wins
        return name, command, rest

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:  # the group's own options (``smoothcert --bogus``)
            if parent is not None:
                raise  # a nested group: its parent's invoke reports it
            usage_error(err, None)


_INVOKED = "smoothcert.invoked"


def usage_error(err: click.UsageError, ctx: click.Context | None) -> None:
    """Click's usage error (usage block, blank line, message) as one line, then exit code 2."""
    where = err.ctx.command_path if err.ctx is not None else (ctx.command_path if ctx is not None else "smoothcert")
    message = " ".join(err.format_message().split())
    click.echo(f"smoothcert: error: {message} (see '{where} --help')", err=True)
    sys.exit(EXIT_USAGE)


def os_error_line(err: OSError) -> str:
    """An OSError as one line naming the path: 'cannot write /x/y.json: Is a directory'."""
    reason = err.strerror or str(err)
    if err.filename is None:
        return reason
    target = f" → {err.filename2}" if err.filename2 is not None else ""
    return f"{err.filename}{target}: {reason}"


def interrupt_hint(invoked: tuple[click.Command | None, list[str]] | None) -> str:
    """What an interrupted command leaves, and how to continue it: the truth for each kind of command.

    ``invoked`` is (command, its arguments) as the innermost smoothcert group resolved it; a plain group's
    subcommand is found among the arguments."""
    command, rest = invoked or (None, [])
    while isinstance(command, click.Group):
        name = next((arg for arg in rest if arg in command.commands), None)
        command, rest = (command.commands[name], rest[rest.index(name) + 1:]) if name else (None, [])
    if getattr(command, "continues_on_rerun", False):  # e.g. `results run`: it skips what is finished by itself
        return "what was written so far is kept: rerun the same command to continue (finished steps are skipped)"
    if command is not None and any(param.name == "resume" for param in command.params):
        return "what was written so far is kept: rerun the same command with --resume to continue"
    return ("files written so far are kept, but this command has no --resume: rerunning it starts it again "
            "(a folder it caches its parts in is reused where its help says so)")


def renamed_option(new: str, old: str, dest: str, **kwargs):
    """An option ``new`` whose former name ``old`` still works, hidden, with a one-line deprecation note.

    Giving both is refused. ``kwargs`` are those of :func:`click.option` for ``new``.
    """
    def note(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            return None
        if ctx.get_parameter_source(dest) == click.core.ParameterSource.COMMANDLINE:
            raise InvalidArgumentError(f"give {new} only ({old} is its former name)")
        ctx.meta[f"renamed:{dest}"] = value
        return None

    def current(ctx: click.Context, param: click.Parameter, value):
        former = ctx.meta.get(f"renamed:{dest}")
        if former is None:
            return value
        if ctx.get_parameter_source(dest) == click.core.ParameterSource.COMMANDLINE:
            raise InvalidArgumentError(f"give {new} only ({old} is its former name)")
        click.echo(f"smoothcert: note: {old} is deprecated; use {new}", err=True)
        return former

    def decorate(f):
        f = click.option(new, dest, callback=current, **kwargs)(f)
        return click.option(old, f"_former_{dest}", type=kwargs.get("type"), default=None, hidden=True,
                            expose_value=False, callback=note)(f)
    return decorate


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device, checked."""
    import torch

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
    {"resume", "overwrite", "quiet", "device", "batch_size", "out", "compile_model", "no_timing", "threads",
     "allow_overlap",  # a permission, recorded in the manifest's dataset.split_check, never a result
     "backend", "address", "workers", "cpus_per_worker", "gpus_per_worker"}  # where rows are computed
)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch (None: leave torch's default, one per core)."""
    if threads is None:
        return
    if threads < 1:
        raise InvalidArgumentError(f"--threads must be >= 1, got {threads}")
    import torch

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
    f = click.option("--test-size", type=int, default=None,
                     help="Test examples of a seeded split (digits, the MNIST test-set-only split, synthetic data, "
                          "an .npz without x_test) [default: the data set's].")(f)
    return f


def load_data(opts: dict, name: str, seed: int | None = None):
    """The data set ``name`` as the data options say (split seed ``seed``, default --data-seed)."""
    from ..data import load_dataset

    extra = {"test_size": opts["test_size"]} if opts.get("test_size") is not None else {}
    return load_dataset(name, data_dir=opts["data_dir"], seed=opts["data_seed"] if seed is None else seed,
                        download=opts["download"], **extra)


def model_options(f):
    f = click.option("--checkpoint", type=click.Path(), default=None,
                     help="smoothcert checkpoint (model.safetensors with model.json beside it).")(f)
    f = click.option("--model", "model_spec", default=None, metavar="MODULE:FACTORY",
                     help="Your own model: pkg.module:factory or path/to/file.py:factory, a factory returning an "
                          "nn.Module (inputs in [0,1]). This imports and runs your code; --checkpoint never "
                          "runs code.")(f)
    f = click.option("--weights", type=click.Path(), default=None, help="safetensors weights for --model.")(f)
    f = click.option("--num-classes", type=int, default=None, help="Classes of --model (default: the data's).")(f)
    f = click.option("--dataset", default=None,
                     help="digits | mnist | blobs | concentric | moons | FILE.npz (default: the checkpoint's).")(f)
    f = click.option("--allow-overlap", is_flag=True,
                     help="Certify even if test inputs of this split were training inputs of the checkpoint "
                          "(another --data-seed or --test-size): warned about and recorded in the manifest.")(f)
    return f


def smoothing_options(f, *, sigma_required: bool = True):
    f = click.option("--sigma", type=float, required=sigma_required, default=None,
                     help="Noise level σ of Gaussian noise (input units, inputs in [0,1])"
                          + ("." if sigma_required else ": the same as --noise gaussian --scale σ."))(f)
    f = renamed_option("--failure-prob", "--alpha", "alpha", type=float, default=0.001, show_default=True,
                       help="Failure probability α of each certificate (former name: --alpha).")(f)
    f = click.option("--batch-size", default="auto", show_default=True,
                     help="Noisy copies per forward pass, or 'auto': the fastest for this model and machine, "
                          "measured before the run (compiled models compile once per size tried).")(f)
    f = click.option("--precision", type=click.Choice(["fp32", "bf16", "int8"]), default="fp32", show_default=True,
                     help="bf16: sample under bfloat16 autocast; int8: with the model quantized to int8, calibrated "
                          "on noisy training inputs (CPU). The base classifier is then that model.")(f)
    f = click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option("--threads", type=int, default=None,
                     help="CPU threads for sampling (default: one per core). Changes speed, never results.")(f)
    f = click.option("--skip", type=int, default=1, show_default=True, help="Use every SKIP-th test input.")(f)
    f = click.option("--max", "max_inputs", type=int, default=None, help="Use at most MAX test inputs.")(f)
    f = click.option("--out", type=click.Path(), required=True, help="Result TSV (manifest: same name, .json).")(f)
    f = click.option("--resume", is_flag=True,
                     help="Continue an interrupted run from its TSV: only with the model, data and arguments "
                          "its manifest records (compared by SHA-256, not by path).")(f)
    f = click.option("--overwrite", is_flag=True,
                     help="Replace an existing TSV and its manifest (never a JSON that is not a run manifest).")(f)
    f = click.option("--no-timing", is_flag=True, help="Write 0 in the time column (byte-identical reruns).")(f)
    f = click.option("--quiet", is_flag=True, help="No progress bar.")(f)
    f = click.option("--compile", "compile_model", is_flag=False, flag_value="on", default="off",
                     type=click.Choice(["on", "off", "auto"]), show_default=True,
                     help="Compile the model (torch.compile): a few seconds once, then faster sampling. "
                          "'--compile auto': compile once and keep it only if measured faster here.")(f)
    return f


def compile_setting(value: str | bool) -> bool | str:
    """The engine's ``compile`` from ``--compile`` (on / off / auto)."""
    return {"on": True, "off": False, "auto": "auto"}.get(value, value)


#: Checkpoints already warned about in this process (an old sidecar without its split is warned about once).
_WARNED: set[str] = set()


def warn(message: str) -> None:
    click.echo(f"smoothcert: warning: {message}", err=True)


def check_checkpoint_split(opts: dict, info, data, dataset_name: str):
    """Whether ``data``'s test inputs were training inputs of the checkpoint ``info``: refuses them
    (SplitOverlapError) unless --allow-overlap, warns when it cannot tell; returns the SplitCheck."""
    from ..data import check_split, compare_split
    from ..data.split import OVERLAP, UNCHECKED, UNRECORDED

    def redraw(seed: int | None, test_size: int):
        return load_data({**opts, "download": False, "test_size": None if seed is None else test_size},
                         dataset_name, seed=0 if seed is None else seed)

    check = check_split(compare_split(info.split, data, redraw), data.name,
                        allow_overlap=bool(opts.get("allow_overlap")))
    key = str(opts["checkpoint"])
    if check.status == OVERLAP:
        warn(f"{check.message(data.name).split('; certify with')[0]}; certifying them anyway (--allow-overlap), "
             "and the manifest says so")
    elif check.status in (UNRECORDED, UNCHECKED) and key not in _WARNED:
        _WARNED.add(key)
        warn(check.message(data.name))
    return check


def _load_model_and_data(opts: dict, device: torch.device):
    model, info, data, num_classes, _ = load_model_and_data(opts, device)
    return model, info, data, num_classes


def load_model_and_data(opts: dict, device: torch.device):
    """(model, checkpoint info or None, data, num_classes, split check or None) as the model options say."""
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
    data = load_data(opts, dataset_name)
    if info is not None and tuple(info.input_shape) != data.input_shape:
        raise InputError(f"the checkpoint expects inputs {tuple(info.input_shape)}, "
                         f"but {dataset_name} has {data.input_shape}")
    check = check_checkpoint_split(opts, info, data, dataset_name) if info is not None else None
    num_classes = opts["num_classes"] if opts["num_classes"] is not None else (
        info.num_classes if info else data.num_classes)
    return model, info, data, num_classes, check


def measured_rate(smooth, x: torch.Tensor) -> float:
    """Samples per second of ``smooth``'s engine on inputs like ``x[0]``, measured now on one batch of the
    batch size the run will use (measured first if 'auto'); the run's results do not change."""
    import time

    from ..sampling import PREDICTION

    size = smooth.resolve_batch_size(x.shape[1:])
    fastest = float("inf")
    for _ in range(2):  # the first pass warms up (allocator, kernels)
        generators = smooth.generators([0], PREDICTION)
        start = time.perf_counter()
        smooth.count(x[:1], size, generators)
        fastest = min(fastest, time.perf_counter() - start)
    return size / max(fastest, 1e-9)


def tuning_line(engine) -> str:
    """'engine: batch 64, channels_last, eager, fp32 (tuned in 0.6 s)' — what the run samples with, and a note
    where bf16 was asked for on a CPU that only emulates it."""
    from ..accelerate import bf16_emulated

    tuned = engine.tuning()
    how = f"tuned in {tuned['seconds']:.1f} s" if tuned else "as given"
    line = (f"engine: batch {engine.batch_size}, {engine.layout}, {'compiled' if engine.compile else 'eager'}, "
            f"{engine.precision} ({how})")
    if engine.precision == "bf16" and bf16_emulated(engine.device):
        line += ("; note: this CPU has no bf16 kernels (neither AVX-512 nor AMX), so bf16 runs emulated, "
                 "often many times slower than fp32 (--precision fp32)")
    return line


def expected_time_line(samples: int, rate: float, inputs: int, device: torch.device, cap: bool = False) -> str:
    """'expected time: about 2 h 5 min for …' from a measured rate."""
    from ..timefmt import duration

    return (f"expected time: {'at most ' if cap else ''}about {duration(samples / rate)} for {inputs:,} inputs × "
            f"{samples // max(inputs, 1):,} samples at {rate:,.0f} samples/s (measured now on {device}); "
            "--n, --skip and --max make it shorter")


def backend_options(f=None, *, workers: bool = True):
    """``--backend serial|ray`` and the Ray cluster's options (docs/scale-out.md); they never change results.
    ``workers=False``: without ``--workers``, for a command whose own ``--workers`` serves both backends."""
    if f is None:
        return lambda g: backend_options(g, workers=workers)
    f = click.option("--backend", type=click.Choice(["serial", "ray"]), default="serial", show_default=True,
                     help="Where rows are computed: here (serial), or on Ray workers (the ray extra), each building "
                          "the model once; the rows are the same.")(f)
    f = click.option("--address", default=None, metavar="auto|HOST:PORT",
                     help="With --backend ray: the cluster to join (auto: the one 'ray start' runs here; default: a "
                          "local one for this run).")(f)
    if workers:
        f = click.option("--workers", type=int, default=None,
                         help="With --backend ray: workers (default: as many as the cluster's CPUs, or GPUs, "
                              "allow).")(f)
    f = click.option("--cpus-per-worker", type=float, default=1, show_default=True,
                     help="With --backend ray: CPUs each worker holds (and samples on).")(f)
    f = click.option("--gpus-per-worker", type=float, default=0, show_default=True,
                     help="With --backend ray: GPUs each worker holds; > 0 samples on the worker's GPU.")(f)
    return f


def build_backend(opts: dict, *, per_model: bool = False):
    """The backend the options of :func:`backend_options` ask for (the serial one by default); Ray workers
    rebuild the model from --checkpoint, or from --model with --weights (``per_model``: the study gives each
    of its models' sources itself)."""
    from ..backends import ModelSource, make_backend

    name = opts.get("backend") or "serial"
    ray_only = [f"--{k.replace('_', '-')}" for k, default in (("address", None), ("workers", None),
                                                              ("cpus_per_worker", 1), ("gpus_per_worker", 0))
                if opts.get(k, default) != default]
    if name == "serial":
        if ray_only:
            raise InvalidArgumentError(f"{', '.join(ray_only)} go with --backend ray")
        return make_backend("serial")
    if per_model:
        source = None
    elif opts.get("checkpoint"):
        source = ModelSource(checkpoint=opts["checkpoint"])
    else:
        source = ModelSource(factory=opts["model_spec"], weights=opts.get("weights"))
    return make_backend("ray", source, per_model=per_model, address=opts.get("address"), workers=opts.get("workers"),
                        cpus_per_worker=opts.get("cpus_per_worker") or 1,
                        gpus_per_worker=opts.get("gpus_per_worker") or 0)


def noise_smoothing_options(f):
    """:func:`smoothing_options` with a choice of noise: ``--noise gaussian|laplace|uniform --scale …`` and
    ``--norm`` (``--sigma σ`` stays: it means ``--noise gaussian --scale σ``)."""
    f = smoothing_options(f, sigma_required=False)
    f = click.option("--noise", "noise_kind", type=click.Choice(["gaussian", "laplace", "uniform"]), default=None,
                     help="Noise distribution (default gaussian): gaussian certifies l2 (or linf via l2/√d), "
                          "laplace l1, uniform l1 or linf (docs/noises.md).")(f)
    f = click.option("--scale", type=float, default=None,
                     help="Noise scale in input units: σ for gaussian, λ for laplace and uniform ([−λ, λ]).")(f)
    f = click.option("--norm", type=click.Choice(["l1", "l2", "linf"]), default=None,
                     help="Norm of the radii, where the noise certifies several (default: its first).")(f)
    return backend_options(f)


def build_noise(opts: dict, input_shape) -> tuple:
    """The noise of ``opts`` (from :func:`noise_smoothing_options`) for inputs of ``input_shape``, and the
    arguments to record: ``--sigma`` alone records as before; otherwise noise, scale and norm are recorded."""
    import math

    from ..noise import make_noise

    kind, scale, sigma, norm = opts.pop("noise_kind", None), opts.pop("scale", None), opts.get("sigma"), \
        opts.pop("norm", None)
    if sigma is not None:
        if scale is not None or kind not in (None, "gaussian"):
            raise InvalidArgumentError("--sigma is Gaussian noise's scale: give either --sigma or --noise with --scale")
        kind, scale = "gaussian", sigma
    if scale is None:
        raise InvalidArgumentError("give the noise level: --sigma σ, or --noise NAME --scale λ")
    noise = make_noise(kind or "gaussian", scale, norm=norm, dim=math.prod(input_shape))
    recorded = {} if sigma is not None and norm is None else {"noise": kind or "gaussian", "scale": scale,
                                                              "norm": noise.norm}
    return noise, recorded


def run_smoothed(kind: str, opts: dict) -> None:
    from ..certificates.sequential import SequentialConfig
    from ..models.checkpoint import asdict_info
    from ..pipeline import certify_dataset, int8_calibration, predict_dataset, select_indices
    from ..runs import RunOptions
    from ..smooth import Smooth

    set_threads(opts.get("threads"))
    device = pick_device(opts["device"])
    backend = build_backend(opts)
    model, info, data, num_classes, split_check = load_model_and_data(opts, device)
    noise, noise_arguments = build_noise(opts, data.input_shape)
    smooth = Smooth(model, num_classes, noise=noise, batch_size=parse_batch_size(opts["batch_size"]),
                    seed=opts["seed"], device=device, compile=compile_setting(opts["compile_model"]),
                    precision=opts["precision"],
                    calibration=int8_calibration(opts["precision"], data, noise))
    indices = select_indices(len(data.x_test), opts["skip"], opts["max_inputs"])
    arguments = {k: v for k, v in opts.items() if k not in NOT_RESULT_OPTIONS} | noise_arguments
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note,
                                                   "test_inputs": len(data.x_test), "selected": len(indices)},
               "model": asdict_info(info) if info else {"spec": opts["model_spec"], "weights": opts["weights"]},
               "noise": smooth.noise.to_dict()}  # the pipeline adds the engine's settings
    context["dataset"]["split"] = data.split_record()
    if split_check is not None:
        context["dataset"]["split_check"] = {**split_check.to_dict(), "allow_overlap": bool(opts["allow_overlap"])}
    if not opts["quiet"] and len(indices):
        per_input = opts["n"] + (opts.get("n0") or 0) if kind == "certify" else opts["n"]
        click.echo(expected_time_line(len(indices) * per_input, measured_rate(smooth, data.x_test), len(indices),
                                      device, cap=bool(opts.get("sequential"))))
        click.echo(tuning_line(smooth.engine))
    options = RunOptions(resume=opts["resume"], overwrite=opts["overwrite"], record_time=not opts["no_timing"],
                         progress=not opts["quiet"])
    common = dict(indices=indices, arguments=arguments, options=options, context=context, backend=backend)
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
