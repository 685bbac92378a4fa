"""The real-data α × β grid: base models trained at noise α, smoothed at noise β (Pal & Sulam 2023, §3).

A clean model is trained once; each training noise α gets a model fine-tuned from it on noisy copies of the
training images (the authors' MNIST recipe, methods.md §3), saved as a checkpoint that every β reuses. A cell
(α, β) measures on the test set

- the smoothed risk: the error of the plain majority vote over ``votes`` noisy copies at noise β (no
  abstention, the paper's measure; β = 0 is the base classifier on clean inputs), and
- certified accuracy from CERTIFY (Cohen et al.; n0, n, failure probability ``cert_alpha``) at ``radii``,
  usually on a subset of the test set.

Everything here runs in one process; :mod:`.job` schedules the jobs, in parallel where it can, and writes the
tables. Run-folder layout::

    models/clean.*            the clean model (safetensors + JSON sidecar)
    models/alpha_<α>.*        the model for training noise α
    cells/a<α>_b<β>.json      one cell's results and the settings it was computed with (a
                              :class:`~smoothcert.runs.CellCache` cell: written atomically when complete)
    certify/a<α>_b<β>.tsv     CERTIFY rows of a cell (resumable)
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ...analysis.metrics import abstain_rate, certified_accuracy, validate_radii
from ...analysis.results import read_results
from ...data import Dataset, load_dataset
from ...engine import Engine
from ...errors import InvalidArgumentError
from ...models import load_checkpoint, save_checkpoint
from ...models.checkpoint import checkpoint_paths
from ...pipeline import certify_dataset, select_indices
from ...runs import CellCache, RunOptions
from ...smooth import Smooth
from ...training import TrainConfig, accuracy, top1_correct, train
from ...validate import check_alpha, check_count, check_seed
from .levels import check_levels
from .risk import risk, smoothed_predictions

#: Pal & Sulam's MNIST α*(β), recomputed from the authors' data (methods.md §3; full 60k training set,
#: conv32-64-fc128 CNN): β → (α*, risk at α*, risk at α = 0).
PAPER_MNIST_ALPHA_STAR: dict[float, tuple[float, float, float]] = {
    0.1: (0.25, 0.0068, 0.0088),
    0.3: (0.30, 0.0066, 0.0228),
    0.5: (0.41, 0.0070, 0.2025),
    0.7: (0.51, 0.0087, 0.4892),
    0.9: (0.65, 0.0131, 0.6217),
}


@dataclass
class FinetuneConfig:
    """How a model for training noise α is made from the clean model.

    Each epoch passes over every training image ``copies`` times, each copy with fresh N(0, α²I) noise, in
    steps of ``images_per_step`` images × ``copies`` noisy copies (so the number of optimizer steps per epoch
    does not depend on ``copies``). The paper's MNIST recipe: 9 epochs, 100 copies, 64 images, Adadelta lr 1.0,
    StepLR γ 0.7.

    Attributes:
        finetune_zero: also fine-tune α = 0 (no noise, one copy: the same gradient steps as ``copies`` identical
            copies for a dropout-free model), so every α gets the same training budget; otherwise α = 0 is the
            clean model itself, as in the authors' code.
    """

    epochs: int = 9
    copies: int = 100
    images_per_step: int = 64
    optimizer: str = "adadelta"
    lr: float = 1.0
    lr_gamma: float = 0.7
    finetune_zero: bool = True

    def train_config(self, alpha: float, seed: int) -> TrainConfig:
        copies = self.copies if alpha > 0 else 1
        return TrainConfig(train_sigma=float(alpha), epochs=self.epochs, batch_size=self.images_per_step * copies,
                           lr=self.lr, optimizer=self.optimizer, lr_gamma=self.lr_gamma, seed=seed).validate()

    def validate(self) -> FinetuneConfig:
        for name in ("epochs", "copies", "images_per_step"):
            check_count(name, getattr(self, name))
        self.train_config(1.0, 0)
        return self


@dataclass
class GridConfig:
    """Everything that fixes the grid's results. Noise levels are std in input units (pixels in [0, 1]).

    Attributes:
        dataset, data_dir, data_seed: the data (see :func:`smoothcert.data.load_dataset`).
        arch: zoo architecture of every model. clean: training of the clean model. finetune: see FinetuneConfig.
        alphas: training noise levels (must include 0, the baseline). betas: smoothing noise levels (0 allowed).
        votes: noisy copies per input for the majority vote (the paper: 100).
        risk_skip, risk_max: the test inputs the risk uses (every risk_skip-th, at most risk_max).
        n0, n, cert_alpha: CERTIFY's selection and estimation samples and failure probability.
        cert_skip, cert_max: the test inputs CERTIFY uses. radii: where certified accuracy is reported.
        seed: seeds training, fine-tuning and all smoothing noise. batch_size: noisy copies per forward pass.
        compile: compile models for sampling (torch.compile; same predictions up to float rounding).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    data_seed: int = 0
    arch: str = "lenet"
    clean: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=60, batch_size=64, lr=2e-3))
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    alphas: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.9])
    betas: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.3, 0.5, 0.7, 0.9])
    votes: int = 100
    risk_skip: int = 1
    risk_max: int | None = None
    n0: int = 100
    n: int = 1000
    cert_alpha: float = 0.001
    cert_skip: int = 1
    cert_max: int | None = None
    radii: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0])
    seed: int = 0
    batch_size: int = 1000
    compile: bool = False

    def validate(self) -> GridConfig:
        self.alphas = check_levels(self.alphas, "alphas", sort=True)
        self.betas = check_levels(self.betas, "betas", sort=True)
        if 0.0 not in self.alphas:
            raise InvalidArgumentError("alphas must include 0: α = 0 is the baseline every α is compared with")
        self.clean.validate()
        self.finetune.validate()
        for name in ("votes", "risk_skip", "cert_skip", "n0", "n", "batch_size"):
            check_count(name, getattr(self, name))
        for name in ("risk_max", "cert_max"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        check_alpha(self.cert_alpha, "cert_alpha")
        check_seed(self.seed)
        self.radii = [float(r) for r in validate_radii(self.radii).ravel()]
        return self

    def recipe(self) -> dict:
        """The settings a cached model or cell depends on: everything but the α and β grids."""
        doc = asdict(self)
        doc.pop("alphas")
        doc.pop("betas")
        return json.loads(json.dumps(doc))  # as JSON stores it, so a reloaded manifest compares equal

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, doc: dict) -> GridConfig:
        doc = dict(doc)
        doc["clean"] = TrainConfig(**doc.get("clean", {}))
        doc["finetune"] = FinetuneConfig(**doc.get("finetune", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})


def grid_preset(dataset: str) -> GridConfig:
    """The scaled-down settings this project measured (docs/tradeoff.md); other data sets get the digits ones.

    - digits: LeNet, clean 60 epochs Adam; fine-tune 9 epochs × 20 copies, 16 images per step; risk on all
      360 test digits, CERTIFY (n0 = 100, n = 1,000) on all of them.
    - mnist: LeNet, clean 10 epochs Adadelta; fine-tune 3 epochs × 8 copies, 64 images per step; risk on every
      2nd test image (1,000), CERTIFY on every 20th (100).
    """
    if dataset == "mnist":
        return GridConfig(
            dataset="mnist",
            clean=TrainConfig(epochs=10, batch_size=64, lr=1.0, optimizer="adadelta", lr_gamma=0.7),
            finetune=FinetuneConfig(epochs=3, copies=8, images_per_step=64),
            risk_skip=2, cert_skip=20, radii=[0.0, 0.25, 0.5, 0.75, 1.0], compile=True,
        )
    return GridConfig(dataset=dataset, finetune=FinetuneConfig(epochs=9, copies=20, images_per_step=16),
                      compile=dataset == "digits")


def grid_config(dataset: str = "digits", *, clean_epochs: int | None = None, epochs: int | None = None,
                copies: int | None = None, images_per_step: int | None = None, finetune_zero: bool | None = None,
                **settings: object) -> GridConfig:
    """The preset of ``dataset`` (:func:`grid_preset`) with every setting given (not None) in place of its own.

    Args:
        clean_epochs: epochs of the clean model. epochs, copies, images_per_step, finetune_zero: the fine-tuning
            (:class:`FinetuneConfig`).
        settings: any other field of :class:`GridConfig` (alphas, betas, votes, seed, …).
    """
    unknown = sorted(set(settings) - set(GridConfig.__dataclass_fields__))
    if unknown:
        raise InvalidArgumentError(f"unknown grid settings: {', '.join(unknown)}")
    cfg = replace(grid_preset(dataset), dataset=dataset, **{k: v for k, v in settings.items() if v is not None})
    if clean_epochs is not None:
        cfg = replace(cfg, clean=replace(cfg.clean, epochs=clean_epochs))
    finetune = {"epochs": epochs, "copies": copies, "images_per_step": images_per_step,
                "finetune_zero": finetune_zero}
    return replace(cfg, finetune=replace(cfg.finetune, **{k: v for k, v in finetune.items() if v is not None}))


# --- names in the run folder -----------------------------------------------------------------------------------


def level_label(value: float) -> str:
    """'0.25' for 0.25, '0' for 0.0: the shortest text that reads back as the same float."""
    return f"{value:g}" if float(f"{value:g}") == value else repr(float(value))


def cell_key(alpha: float, beta: float) -> str:
    return f"a{level_label(alpha)}_b{level_label(beta)}"


def clean_path(run_dir: Path) -> Path:
    return Path(run_dir) / "models" / "clean"


def model_path(run_dir: Path, alpha: float, config: GridConfig) -> Path:
    """Checkpoint stem of α's model (α = 0 without ``finetune_zero`` is the clean model)."""
    if alpha == 0 and not config.finetune.finetune_zero:
        return clean_path(run_dir)
    # no dot in the stem: a checkpoint path's suffix is replaced by .safetensors / .json
    return Path(run_dir) / "models" / f"alpha_{level_label(alpha).replace('.', 'p')}"


def certify_path(run_dir: Path, alpha: float, beta: float) -> Path:
    return Path(run_dir) / "certify" / f"{cell_key(alpha, beta)}.tsv"


def has_model(path: Path) -> bool:
    """A checkpoint is complete once its sidecar exists (it is written after the weights)."""
    return checkpoint_paths(path)[1].is_file()


def cell_cache(run_dir: Path) -> CellCache:
    """The grid's cells, ``cells/<cell_key>.json``."""
    return CellCache(Path(run_dir) / "cells")


def cell_arguments(config: GridConfig, alpha: float, beta: float) -> dict:
    """What a cell's results depend on: its α and β and the grid's recipe (recorded in the cell)."""
    return {"alpha": alpha, "beta": beta, "recipe": config.recipe()}


def read_cell(config: GridConfig, run_dir: Path, alpha: float, beta: float) -> dict | None:
    """The cell (α, β) if ``run_dir`` holds it, computed with ``config``'s recipe; else None.

    A cell written before cells recorded their arguments is taken as it is: the folder's manifest already
    holds the recipe it was made with (see :func:`~smoothcert.studies.tradeoff.job.check_grid_folder`).
    """
    cache = cell_cache(run_dir)
    cell = cache.get(cell_key(alpha, beta), cell_arguments(config, alpha, beta))
    if cell is None and (old := cache.get(cell_key(alpha, beta))) is not None and "arguments" not in old:
        return old
    return cell


# --- data, models, cells -----------------------------------------------------------------------------------------


_DATA: dict[tuple, Dataset] = {}


def grid_data(config: GridConfig) -> Dataset:
    """The grid's data set, loaded once per process."""
    key = (config.dataset, config.data_dir, config.data_seed)
    if key not in _DATA:
        _DATA[key] = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.data_seed)
    return _DATA[key]


def _cpu_seconds() -> float:
    return time.process_time()


def train_clean(config: GridConfig, run_dir: Path) -> dict:
    """Train and save the clean model (unless it is already there). Returns timing and test accuracy."""
    from ...training import train_base_model

    path = clean_path(run_dir)
    if has_model(path):
        return {"model": "clean", "cached": True}
    wall, cpu = time.perf_counter(), _cpu_seconds()
    data = grid_data(config)
    _, info, _ = train_base_model(data, config.arch, config.clean, path, progress=False)
    return {"model": "clean", "cached": False, "test_accuracy": info.test_accuracy,
            "seconds": time.perf_counter() - wall, "cpu_seconds": _cpu_seconds() - cpu}


def finetune_model(config: GridConfig, run_dir: Path, alpha: float) -> dict:
    """Fine-tune the clean model at training noise α and save it (unless already there).

    Returns timing, clean test accuracy and test accuracy on one noisy copy at noise α.
    """
    path = model_path(run_dir, alpha, config)
    if has_model(path):
        return {"model": path.name, "alpha": alpha, "cached": True}
    wall, cpu = time.perf_counter(), _cpu_seconds()
    data = grid_data(config)
    model, clean_info = load_checkpoint(clean_path(run_dir))
    cfg = config.finetune.train_config(alpha, config.seed)
    copies = config.finetune.copies if alpha > 0 else 1
    # `copies` noisy copies of every image per epoch: the repeated set is reshuffled and re-noised each epoch.
    x_rep, y_rep = data.x_train.repeat(copies, *[1] * (data.x_train.dim() - 1)), data.y_train.repeat(copies)
    history = train(model, x_rep, y_rep, cfg, progress=False)
    info = copy.deepcopy(clean_info)
    info.train_sigma = float(alpha)
    info.test_accuracy = accuracy(model, data.x_test, data.y_test)
    info.training = {**cfg.__dict__, "copies": copies, "images_per_step": config.finetune.images_per_step,
                     "finetuned_from": "clean", "clean_training": clean_info.training, "history": history.epochs}
    save_checkpoint(model, path, info)
    return {"model": path.name, "alpha": alpha, "cached": False, "test_accuracy": info.test_accuracy,
            "noisy_test_accuracy": accuracy(model, data.x_test, data.y_test, sigma=alpha, seed=config.seed),
            "seconds": time.perf_counter() - wall, "cpu_seconds": _cpu_seconds() - cpu}


def evaluate_cell(config: GridConfig, run_dir: Path, alpha: float, beta: float) -> dict:
    """Smoothed risk and certified accuracy of α's model smoothed at β; written to ``cells/<key>.json``.

    A cell already written is read back instead. CERTIFY rows go to ``certify/<key>.tsv`` and resume there.
    """
    cached = read_cell(config, run_dir, alpha, beta)
    if cached is not None:
        return cached
    wall, cpu = time.perf_counter(), _cpu_seconds()
    data = grid_data(config)
    model, _ = load_checkpoint(model_path(run_dir, alpha, config))
    risk_idx = select_indices(len(data.x_test), config.risk_skip, config.risk_max)
    engine = Engine(model, batch_size=config.batch_size, compile=config.compile)  # shared by risk and certificates
    preds = smoothed_predictions(engine, data.num_classes, data.x_test[risk_idx], beta, config.votes, risk_idx,
                                 seed=config.seed)
    labels = data.y_test[risk_idx].numpy()
    risk_seconds = time.perf_counter() - wall
    cell = {"alpha": alpha, "beta": beta, "risk": risk(preds, labels), "errors": int(np.sum(preds != labels)),
            "risk_inputs": len(risk_idx), "votes": config.votes, "risk_indices": list(risk_idx),
            "predictions": preds.tolist(), "certified": {}, "abstain": None, "certify_inputs": 0}
    if beta > 0:
        cert_idx = select_indices(len(data.x_test), config.cert_skip, config.cert_max)
        tsv = certify_path(run_dir, alpha, beta)
        smooth = Smooth(engine, data.num_classes, beta, seed=config.seed)
        arguments = {"alpha_train": alpha, "sigma": beta, "n0": config.n0, "n": config.n,
                     "alpha": config.cert_alpha, "seed": config.seed, "indices": f"skip {config.cert_skip}, "
                     f"max {config.cert_max}"}
        certify_dataset(smooth, data.x_test, data.y_test, tsv, n0=config.n0, n=config.n, alpha=config.cert_alpha,
                        indices=cert_idx, arguments=arguments, options=RunOptions(resume=tsv.is_file(), progress=False),
                        context={"dataset": {"name": data.name, "split_note": data.split_note}})
        res = read_results(tsv)
        cell["certified"] = {level_label(r): float(a) for r, a in zip(config.radii,
                                                                       certified_accuracy(res, config.radii),
                                                                       strict=True)}
        cell["abstain"] = abstain_rate(res)
        cell["certify_inputs"] = len(res)
    cell["seconds"] = {"risk": risk_seconds, "total": time.perf_counter() - wall, "cpu": _cpu_seconds() - cpu}
    return cell_cache(run_dir).put(cell_key(alpha, beta), cell, cell_arguments(config, alpha, beta))


def base_model_correct(config: GridConfig, run_dir: Path) -> list[dict]:
    """Per α with a model in ``run_dir``: whether it classifies each test input right, clean and on one noisy copy.

    Returns one dict per α: ``alpha``, ``clean`` [N] bool, ``noisy`` [N] bool (noise N(0, α²I) seeded by
    ``config.seed``), ``epochs`` (of its training history).
    """
    data = grid_data(config)
    rows = []
    for alpha in config.alphas:
        path = model_path(run_dir, alpha, config)
        if not has_model(path):
            continue
        model, info = load_checkpoint(path)
        rows.append({"alpha": alpha, "clean": top1_correct(model, data.x_test, data.y_test),
                     "noisy": top1_correct(model, data.x_test, data.y_test, sigma=alpha, seed=config.seed),
                     "epochs": len(info.training.get("history", []))})
    return rows


def model_summary(config: GridConfig, run_dir: Path) -> list[dict]:
    """Per α with a model in ``run_dir``: its clean test accuracy and its accuracy on one noisy copy (noise α,
    seeded by ``config.seed``) of each test input."""
    return [{"alpha": row["alpha"], "test_accuracy": float(row["clean"].mean()),
             "noisy_test_accuracy": float(row["noisy"].mean()), "epochs": row["epochs"]}
            for row in base_model_correct(config, run_dir)]


# --- the grid's results --------------------------------------------------------------------------------------


@dataclass
class GridResult:
    """Cells of a grid as arrays [len(alphas), len(betas)] (NaN where a cell is missing or does not apply)."""

    config: GridConfig
    alphas: list[float]
    betas: list[float]
    risk: np.ndarray
    certified: dict[float, np.ndarray]
    cells: dict[tuple[float, float], dict]

    @property
    def complete(self) -> bool:
        return len(self.cells) == len(self.alphas) * len(self.betas)

    def alpha_star(self, values: np.ndarray | None = None, minimize: bool = True) -> np.ndarray:
        """α*(β) per β: the α of the lowest risk (or the highest ``values`` with ``minimize=False``).

        Ties go to the smallest α, so α* = 0 means that no training noise did better than none; NaN where a
        column has no value.
        """
        table = self.risk if values is None else values
        order = np.argsort(self.alphas, kind="stable")
        out = np.full(len(self.betas), np.nan)
        for j in range(len(self.betas)):
            column = table[order, j]
            if np.all(np.isnan(column)):
                continue
            best = np.nanargmin(column) if minimize else np.nanargmax(column)
            out[j] = np.asarray(self.alphas)[order][best]
        return out

    def paired_difference(self, alpha_a: float, alpha_b: float, beta: float) -> tuple[float, float]:
        """risk(α_a, β) − risk(α_b, β) and its standard error from per-input paired errors (same test inputs,
        same noise): SE = std(e_a − e_b)/√m."""
        cell_a, cell_b = self.cells[(alpha_a, beta)], self.cells[(alpha_b, beta)]
        labels = np.asarray(self.labels(cell_a))
        err_a = np.asarray(cell_a["predictions"]) != labels
        err_b = np.asarray(cell_b["predictions"]) != labels
        diff = err_a.astype(float) - err_b.astype(float)
        se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        return float(diff.mean()), se

    def near_best(self, beta: float, z: float = 2.0) -> list[float]:
        """The α whose risk at β exceeds the risk at α*(β) by at most ``z`` paired standard errors (α* included):
        the training noise levels this grid cannot tell apart from the best."""
        j = self.betas.index(beta)
        star = self.alpha_star()[j]
        if np.isnan(star):
            return []
        out = []
        for alpha in self.alphas:
            if (alpha, beta) not in self.cells:
                continue
            diff, se = self.paired_difference(alpha, float(star), beta) if alpha != star else (0.0, 0.0)
            if alpha == star or diff <= z * se:
                out.append(alpha)
        return out

    def labels(self, cell: dict) -> list[int]:
        data = grid_data(self.config)
        return data.y_test[cell["risk_indices"]].tolist()


def collect(config: GridConfig, run_dir: Path) -> GridResult:
    """Read every cell of ``config``'s grid that ``run_dir`` holds."""
    alphas, betas = list(config.alphas), list(config.betas)
    shape = (len(alphas), len(betas))
    risk_table = np.full(shape, np.nan)
    certified = {r: np.full(shape, np.nan) for r in config.radii}
    cells = {}
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            cell = read_cell(config, run_dir, a, b)
            if cell is None:
                continue
            cells[(a, b)] = cell
            risk_table[i, j] = cell["risk"]
            for r in config.radii:
                value = cell["certified"].get(level_label(r))
                if value is not None:
                    certified[r][i, j] = value
    return GridResult(config, alphas, betas, risk_table, certified, cells)
