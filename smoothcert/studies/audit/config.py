"""Settings of a full audit, checked at the boundary."""

from __future__ import annotations

from dataclasses import dataclass

from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_alpha, check_count, check_int, check_positive, check_seed

__all__ = ["OTHER_TRAINING", "TRAINING_DEFAULTS", "AuditConfig"]

#: Training settings per data set when the configuration leaves them open: (epochs, batch size, learning rate).
TRAINING_DEFAULTS = {"digits": (60, 64, 2e-3), "mnist": (10, 128, 1e-3)}
OTHER_TRAINING = (30, 128, 3e-3)


@dataclass
class AuditConfig:
    """Settings of a full audit (lengths and σ in input units; inputs in [0, 1]).

    Attributes:
        dataset, data_dir, data_seed: the data (see :func:`smoothcert.data.load_dataset`).
        arch: zoo architecture of the base models it trains.
        sigmas: smoothing noise levels σ.
        epochs, train_batch_size, lr: training (None: per-data-set defaults, :data:`TRAINING_DEFAULTS`).
        n0, n, alpha: CERTIFY's selection samples, PREDICT's (and CERTIFY's estimation) samples, level.
        max_inputs: audit the first this many test inputs (None: all).
        radii: radii of the per-class certified accuracy.
        matrix_n: noisy copies per input for the accuracy-loss matrix (majority vote).
        seed: seed of training and of the noise.
        batch_size: noisy copies per forward pass, or "auto": the fastest of 256 … 2048 for the first model on
            this machine (small images favour small batches on CPU caches, e.g. 256 for MNIST LeNet).
        compile: sample through torch.compile (one compile per model).
        matrix: run the accuracy-loss matrix (every model at every σ).
        synthetic: run the analytic, 2-D region and hypothesis experiments too.
        device: torch device.
        threads: torch threads while sampling (None: torch's default, one per core). On shared cores one
            thread can be faster; the 2-D experiments always use one (their model is tiny).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    data_seed: int = 0
    arch: str = "lenet"
    sigmas: tuple[float, ...] = (0.12, 0.25, 0.5, 1.0)
    epochs: int | None = None
    train_batch_size: int | None = None
    lr: float | None = None
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    max_inputs: int | None = None
    radii: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    matrix_n: int = 100
    seed: int = 0
    batch_size: int | str = "auto"
    compile: bool = True
    matrix: bool = True
    synthetic: bool = True
    device: str = "cpu"
    threads: int | None = None

    def validate(self) -> AuditConfig:
        """Check every setting (InvalidArgumentError naming the bad one); σ are sorted. Returns self."""
        sigmas = [check_positive("sigmas", s) for s in self.sigmas]
        if not sigmas or len(set(sigmas)) != len(sigmas):
            raise InvalidArgumentError(f"sigmas must be distinct finite numbers > 0, got {list(self.sigmas)}")
        self.sigmas = tuple(sorted(sigmas))
        if self.batch_size != "auto":
            check_count("batch_size", self.batch_size)
        for name in ("n0", "n", "matrix_n"):
            check_count(name, getattr(self, name))
        for name in ("threads", "max_inputs", "epochs", "train_batch_size"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        if self.lr is not None:
            check_positive("lr", self.lr)
        check_alpha(self.alpha)
        check_seed(self.seed)
        check_int("data_seed", self.data_seed, minimum=0, maximum=2**32 - 1)
        radii = [check_positive("radii", r, allow_zero=True) for r in self.radii]
        if not radii:
            raise InvalidArgumentError("give at least one radius")
        return self

    def training(self) -> tuple[int, int, float]:
        """(epochs, batch size, learning rate) of the base models it trains."""
        epochs, batch, lr = TRAINING_DEFAULTS.get(self.dataset, OTHER_TRAINING)
        return self.epochs or epochs, self.train_batch_size or batch, self.lr or lr
