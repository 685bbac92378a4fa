"""Clean and robust accuracy of the standard, robust, fixed-α and adaptive mixtures: the trade-off curve.

Each row of the result TSV is one model at one ε and names the attacks that produced its robust accuracy.
Robust accuracy is the worst case over an ensemble run in sequence (each attack on the inputs the earlier
ones left correct), as AutoAttack does. An adaptive mixture is also attacked with the composite objective
(CE plus the mixing network's BCE), since an attack that ignores α(x) overstates robustness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...attacks import AttackConfig, predictions, worst_case_correct
from ...errors import InputError, InvalidArgumentError, ResultsError
from ...models import MixedClassifier, composite_attack_loss
from ...progress import progress_bar
from ...runs import ResultWriter, check_resumable, write_manifest
from ...runs.fingerprint import data_fingerprint, tensors_fingerprint
from ...validate import check_choice, check_count, check_positive, check_real, check_seed

KINDS = ("standard", "robust", "fixed", "adaptive")
EVAL_COLUMNS = ("idx", "model", "kind", "setting", "eps", "attack", "clean_accuracy", "robust_accuracy", "n",
                "alpha_clean", "seconds", "clean_correct", "robust_correct")
#: The columns of evaluation files written before the per-input outcomes were kept (read, never resumed).
LEGACY_EVAL_COLUMNS = EVAL_COLUMNS[:-2]


def encode_correct(correct: torch.Tensor | np.ndarray) -> str:
    """A [N] boolean outcome per input as a string of N characters 0/1 (one TSV cell)."""
    return "".join("1" if c else "0" for c in np.asarray(correct, dtype=bool).tolist())


def decode_correct(text: str) -> np.ndarray:
    """The [N] boolean array :func:`encode_correct` wrote; an empty cell (a legacy file) gives an empty array."""
    if text.strip("01"):
        raise ValueError(f"not a string of 0/1 outcomes: {text[:20]!r}")
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


@dataclass(frozen=True)
class ModelEntry:
    """A model to evaluate: a short ``name``, its ``kind`` (standard, robust, fixed, adaptive), a ``setting``
    text (α, or the mixing network's reparameterization and α range), and the module."""

    name: str
    kind: str
    setting: str
    model: nn.Module

    def __post_init__(self) -> None:
        check_choice("model kind", self.kind, KINDS)


def mean_alpha(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean α(x) of a MixedClassifier on x (NaN for other models)."""
    if not isinstance(model, MixedClassifier):
        return math.nan
    with torch.no_grad():
        return float(torch.cat([model.forward_with_gamma(p).alpha for p in x.split(batch_size)]).mean())


def evaluate_robustness(
    entries: Sequence[ModelEntry],
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    attacks: Sequence[AttackConfig],
    out: str | Path,
    *,
    composite_weight: float = 0.5,
    batch_size: int = 250,
    seed: int = 0,
    arguments: Mapping[str, object] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
) -> list[dict]:
    """Write one row per (model, ε): clean accuracy, worst-case robust accuracy over ``attacks``, the attacks.

    Args:
        entries: the models; x [N, ...], y [N]: the evaluation inputs (all of them are used).
        eps_list: radii; attacks: the ensemble (each is also run with the composite objective, weight
            ``composite_weight``, on adaptive mixtures).
        out: result TSV (manifest beside it); ``resume`` skips rows already written.
        seed: seeds every attack's random starts, per row, so a resumed run equals an uninterrupted one.
    Returns:
        the rows written by this call.
    """
    if len(x) != len(y) or len(x) == 0:
        raise InputError(f"need a non-empty evaluation set with one label per input, got {len(x)}, {len(y)}")
    if not eps_list:
        raise InvalidArgumentError("give at least one eps value")
    eps_list = [check_positive("eps", e, allow_zero=True) for e in eps_list]
    batch_size, seed = check_count("batch_size", batch_size), check_seed(seed)
    composite_weight = check_real("composite_weight", composite_weight, low=0.0, high=1.0)
    if not attacks:
        raise InvalidArgumentError("give at least one attack")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"model names must be distinct, got {names}")
    plan = [(e, float(eps)) for e in entries for eps in eps_list]
    arguments = dict(arguments or {})
    arguments.update(models=names, eps=[float(v) for v in eps_list], seed=seed,
                     attacks=[a.describe() for a in attacks], composite_weight=composite_weight, inputs=len(x))
    # Resume is keyed on content: every model's weights and the evaluated inputs, not paths.
    fingerprint = {"model": tensors_fingerprint({f"{e.name}.{k}": v for e in entries
                                                 for k, v in e.model.state_dict().items()}),
                   "data": data_fingerprint(x, y)}
    if resume:
        check_resumable(out, arguments, fingerprint)
    writer = ResultWriter(out, EVAL_COLUMNS, resume=resume, overwrite=overwrite)
    todo = [(i, e, eps) for i, (e, eps) in enumerate(plan) if i not in writer.done]
    context = {**(context or {}), "fingerprint": fingerprint}
    write_manifest(out, arguments, status="running", **context)
    clean_cache: dict[str, tuple[float, float, str]] = {}
    rows: list[dict] = []
    bar = progress_bar(total=len(todo) * len(x), unit="input", disable=not progress, desc="robust accuracy")
    started = time.perf_counter()
    try:
        with writer:
            for i, entry, eps in todo:
                bar.set_postfix(model=entry.name, eps=f"{eps:g}")
                model = entry.model.eval()
                if entry.name not in clean_cache:
                    clean_ok = predictions(model, x) == y
                    clean_cache[entry.name] = (float(clean_ok.float().mean()), mean_alpha(model, x),
                                               encode_correct(clean_ok.cpu()))
                t0 = time.perf_counter()
                fns, described = _ensemble(entry, attacks, eps, composite_weight, seed, i, x.device)
                ok = worst_case_correct(model, x, y, fns, batch_size=batch_size, progress=bar.update)
                row = {"idx": i, "model": entry.name, "kind": entry.kind, "setting": entry.setting, "eps": eps,
                       "attack": described, "clean_accuracy": clean_cache[entry.name][0],
                       "robust_accuracy": float(ok.float().mean()), "n": len(x),
                       "alpha_clean": clean_cache[entry.name][1], "seconds": round(time.perf_counter() - t0, 2),
                       "clean_correct": clean_cache[entry.name][2], "robust_correct": encode_correct(ok.cpu())}
                writer.write(row)
                rows.append(row)
    finally:
        bar.close()
        write_manifest(out, arguments, status="complete" if len(rows) == len(todo) else "interrupted",
                       timing={"rows": len(rows), "seconds": time.perf_counter() - started,
                               "resumed_rows": len(writer.done)}, **context)
    return rows


def _ensemble(entry: ModelEntry, attacks: Sequence[AttackConfig], eps: float, weight: float, seed: int, row: int,
              device: torch.device):
    if eps == 0:
        return [], "none (ε = 0)"
    gen = torch.Generator(device=device).manual_seed(int(np.random.SeedSequence([seed, row]).generate_state(1)[0]))
    fns, texts = [], []
    for cfg in attacks:
        fns.append(lambda m, xb, yb, cfg=cfg: cfg.run(m, xb, yb, eps, generator=gen, seed=seed))
        texts.append(cfg.describe())
        if entry.kind == "adaptive" and cfg.method != "autoattack":
            objective = composite_attack_loss(weight)
            fns.append(lambda m, xb, yb, cfg=cfg, obj=objective: cfg.run(m, xb, yb, eps, loss=obj, generator=gen))
            texts.append(cfg.describe(f"composite (1−{weight:g})·CE + {weight:g}·BCE(γ′, 1)"))
    return fns, "; then ".join(texts)


def _header(path: Path) -> list[str] | None:
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return None


def is_eval_file(path: str | Path) -> bool:
    """Whether ``path`` is a file whose header is that of an evaluation TSV (this one's or the legacy one)."""
    return _header(Path(path)) in (list(EVAL_COLUMNS), list(LEGACY_EVAL_COLUMNS))


def read_eval_rows(path: str | Path) -> list[dict]:
    """Rows of an evaluation TSV written by :func:`evaluate_robustness`, numbers converted; ``clean_correct`` and
    ``robust_correct`` are [n] boolean arrays of the per-input outcomes (empty for a legacy file)."""
    path = Path(path)
    columns = _header(path)
    if columns not in (list(EVAL_COLUMNS), list(LEGACY_EVAL_COLUMNS)):
        raise ResultsError(f"{path} is not an evaluation file (expected columns {EVAL_COLUMNS})")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise ResultsError(f"{path}: line {number} is malformed")
        row: dict = {"clean_correct": "", "robust_correct": "", **dict(zip(columns, cells, strict=True))}
        try:
            for k in ("eps", "clean_accuracy", "robust_accuracy", "alpha_clean", "seconds"):
                row[k] = float(row[k])
            row["idx"], row["n"] = int(row["idx"]), int(row["n"])
            for k in ("clean_correct", "robust_correct"):
                row[k] = decode_correct(row[k])
                if len(row[k]) not in (0, row["n"]):
                    raise ValueError(f"{k} has {len(row[k])} outcomes for n = {row['n']}")
        except ValueError as err:
            raise ResultsError(f"{path}: line {number} has a malformed number or outcome ({err})") from err
        out.append(row)
    return out
