"""The one training loop and its objectives: hand-computed batch losses, learning, exact resumption, noise objects."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from smoothcert.data import load_dataset
from smoothcert.errors import InvalidArgumentError
from smoothcert.models import build_model, read_info
from smoothcert.noise import GaussianNoise, Noise
from smoothcert.training import (
    OBJECTIVES,
    AdversarialObjective,
    FitConfig,
    GaussianObjective,
    MixingObjective,
    TrainConfig,
    fit,
    train_base_model,
)
from smoothcert.training.state import state_paths

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


class ConstantNoise(Noise):
    """A stub noise: every coordinate is ``value``; records each call of ``sample_``."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls: list[tuple[tuple[int, ...], torch.Generator]] = []

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self.calls.append((tuple(out.shape), generator))
        return out.fill_(self.value)

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        return np.zeros_like(np.asarray(p_a_lower, dtype=np.float64))

    def probability_for_radius(self, radius: float) -> float:
        return 1.0

    def to_dict(self) -> dict:
        return {"type": "constant", "value": self.value}


def linear(weight: list[list[float]]) -> nn.Linear:
    """A bias-free linear classifier with the given weight [C, D]."""
    layer = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
    return layer


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# --- each objective's loss on a tiny batch ------------------------------------------------------------------

def test_gaussian_objective_adds_the_noise_objects_sample():
    noise = ConstantNoise(0.5)
    objective = GaussianObjective(noise)
    model = linear([[1.0, 0.0], [0.0, 1.0]])  # logits = x + noise
    x, y = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])
    gen = torch.Generator().manual_seed(0)
    loss, terms = objective.loss(model, x, y, gen, epoch=1)
    # logits [1.5, 0.5] with y = 0: CE = softplus(−1); logits [0.5, 0.5] with y = 1: CE = log 2.
    assert loss.item() == pytest.approx((softplus(-1.0) + math.log(2)) / 2, rel=1e-6)
    assert terms == {"train_accuracy": 0.5}  # argmax of a tie is class 0
    assert noise.calls == [((2, 2), gen)]
    assert objective.to_dict() == {"type": "gaussian", "noise": {"type": "constant", "value": 0.5}}
    # Without noise it is plain cross-entropy: logits [1, 0] (y = 0) and [0, 0] (y = 1).
    plain, _ = GaussianObjective(None).loss(model, x, y, gen, epoch=1)
    assert plain.item() == pytest.approx((softplus(-1.0) + math.log(2)) / 2, rel=1e-6)
    assert GaussianObjective(None).to_dict() == {"type": "gaussian", "noise": None}


@pytest.mark.parametrize(("epoch", "eps"), [(1, 0.05), (2, 0.1), (3, 0.1)])
def test_adversarial_objective_trains_on_the_pgd_corner(epoch, eps):
    # Logits [2x, −2x] of a scalar input: the loss of class 0 falls with x, that of class 1 rises, so five
    # sign-gradient steps of 2.5ε/5 from any random start end on the far edge of the ε-interval around 0.5.
    objective = AdversarialObjective(eps=0.1, norm="linf", steps=5, eps_warmup=2)
    model = linear([[2.0], [-2.0]]).train()
    x, y = torch.tensor([[0.5], [0.5]]), torch.tensor([0, 1])
    assert objective.start_epoch(epoch) == {"eps": eps}
    loss, terms = objective.loss(model, x, y, torch.Generator().manual_seed(0), epoch)
    low, high = 0.5 - eps, 0.5 + eps  # attacked inputs of class 0 and class 1
    expected = (softplus(-4 * low) + softplus(4 * high)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert terms == {"adv_train_accuracy": 0.5}  # class 0 still right at 0.5 − ε > 0, class 1 wrong
    assert model.training
    assert objective.to_dict() == {"type": "adversarial", "eps": 0.1, "norm": "linf", "steps": 5, "eps_warmup": 2}


def test_mixing_objective_is_the_stated_combination_on_clean_and_attacked_copies(digits):
    torch.manual_seed(0)
    g = build_model("lenet", digits.input_shape, 10).eval()
    h = build_model("lenet", digits.input_shape, 10).eval()
    from smoothcert.studies.mixing import MixingConfig, build_mixed

    x, y = digits.x_train[:8], digits.y_train[:8]
    model = build_mixed(g, h, x[:1], MixingConfig(width=8, blocks=1)).train()
    # A zero radius makes the attacked copy the input itself; the loss is then computable from one forward pass
    # (in training mode the duplicated batch has the same BatchNorm statistics as the batch alone).
    objective = MixingObjective(eps=0.3, eps_low=0.0, eps_high=0.0, steps_high=2, c_bce=1.0, c_ce=0.5, c_prod=0.1,
                                clean_weight=2.0)
    loss, terms = objective.loss(model, x, y, torch.Generator().manual_seed(0), epoch=1)
    with torch.no_grad():
        out = model.forward_with_gamma(x)
    gamma, ce = out.gamma.double(), -out.log_probs.double()[torch.arange(8), y]
    bce_clean, bce_adv = torch.nn.functional.softplus(gamma), torch.nn.functional.softplus(-gamma)  # s = 0, s = 1
    per_clean = bce_clean + 0.5 * ce + 0.1 * bce_clean * ce
    per_adv = bce_adv + 0.5 * ce + 0.1 * bce_adv * ce
    expected = (2.0 * per_clean.sum() + per_adv.sum()) / (2.0 * 8 + 8)
    assert loss.item() == pytest.approx(float(expected), rel=1e-5)
    assert terms["alpha_clean"] == pytest.approx(terms["alpha_adv"], rel=1e-5)
    assert terms["clean_correct"] == terms["adv_correct"]
    assert terms["ce"] == pytest.approx(float(ce.mean()), rel=1e-5)
    assert model.training


def test_registry_names_match_the_objectives():
    assert set(OBJECTIVES) == {"gaussian", "adversarial", "mixing", "stability", "consistency", "macer", "smoothadv",
                               "smoothmix", "catrs"}
    examples = {"gaussian": GaussianObjective(GaussianNoise(0.1)), "adversarial": AdversarialObjective(eps=0.1),
                "mixing": MixingObjective(eps=0.1)}  # the others: tests/test_objectives.py
    for key, cls in ((k, OBJECTIVES[k]) for k in examples):
        assert cls.name == key and isinstance(examples[key], cls)
        assert examples[key].to_dict()["type"] == key
        json.dumps(examples[key].to_dict())  # JSON-able, for states and sidecars


@pytest.mark.parametrize("bad", [{"eps": 0.0}, {"norm": "l1"}, {"steps": 0}, {"eps_warmup": -1}])
def test_adversarial_objective_checks_its_settings(bad):
    with pytest.raises(InvalidArgumentError):
        AdversarialObjective(**{"eps": 0.1, **bad})


# --- the loop -----------------------------------------------------------------------------------------------

def small_net(data, seed: int = 0) -> nn.Module:
    """A tiny MLP with dropout, so a resumed run must also restore the global RNG to match."""
    torch.manual_seed(seed)
    d = math.prod(data.input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, data.num_classes))


def test_training_reduces_the_loss_and_uses_the_custom_noise(digits):
    noise = ConstantNoise(0.0)  # zero noise: the loop must still draw it for every batch
    model = small_net(digits)
    cfg = FitConfig(epochs=4, batch_size=100, lr=2e-2, seed=0)
    log = fit(model, GaussianObjective(noise), digits.x_train[:400], digits.y_train[:400], cfg, progress=False)
    assert [r["epoch"] for r in log.epochs] == [1, 2, 3, 4]
    assert log.final["loss"] < 0.7 * log.epochs[0]["loss"]
    assert set(log.final) == {"epoch", "loss", "train_accuracy", "seconds"}
    assert len(noise.calls) == 4 * 4 and all(isinstance(gen, torch.Generator) for _, gen in noise.calls)
    assert log.objective == {"type": "gaussian", "noise": {"type": "constant", "value": 0.0}}
    assert not model.training


def test_adversarial_training_reduces_the_loss(digits):
    model = build_model("lenet", digits.input_shape, digits.num_classes, channels=(8, 16), hidden=32)
    objective = AdversarialObjective(eps=0.05, steps=2)
    log = fit(model, objective, digits.x_train[:256], digits.y_train[:256],
              FitConfig(epochs=3, batch_size=64, lr=3e-3, schedule="cosine"), progress=False)
    assert log.final["loss"] < log.epochs[0]["loss"]
    assert [r["eps"] for r in log.epochs] == [0.05] * 3


class Interrupt(Exception):
    pass


def interrupt_at(epoch: int):
    """A log callback that raises while epoch ``epoch`` is logged (before that epoch's state is saved)."""
    def log(line: str) -> None:
        if line.startswith(f"epoch={epoch} "):
            raise Interrupt
    return log


def _run(data, stem=None, resume=False, log=None, cfg=None, sigma=0.3):
    model = small_net(data)
    cfg = cfg or FitConfig(epochs=3, batch_size=64, lr=0.05, optimizer="sgd", lr_gamma=0.7, seed=3)
    history = fit(model, GaussianObjective(GaussianNoise(sigma)), data.x_train[:300], data.y_train[:300], cfg,
                  state_stem=stem, resume=resume, progress=False, log=log)
    return model, history


def test_interrupted_and_resumed_run_gives_the_same_weights(digits, tmp_path):
    straight, log_a = _run(digits)
    stem = tmp_path / "run.state"
    with pytest.raises(Interrupt):
        _run(digits, stem, resume=True, log=interrupt_at(3))
    meta = json.loads(state_paths(stem)[1].read_text())
    assert meta["epoch"] == 2 and meta["config"]["objective"]["noise"]["sigma"] == 0.3
    assert meta["config"]["fit"]["optimizer"] == "sgd"
    resumed, log_b = _run(digits, stem, resume=True)
    assert [r["epoch"] for r in log_b.epochs] == [1, 2, 3]
    assert [r["loss"] for r in log_b.epochs] == pytest.approx([r["loss"] for r in log_a.epochs], abs=1e-6)
    for (key, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), key
    # Without resume a state is ignored (and overwritten): the run starts afresh and still ends the same.
    fresh, log_c = _run(digits, stem, resume=False)
    assert [r["epoch"] for r in log_c.epochs] == [1, 2, 3]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(straight.state_dict().values(),
                                                               fresh.state_dict().values(), strict=True))


def test_a_state_made_with_other_settings_is_not_resumed(digits, tmp_path):
    stem = tmp_path / "run.state"
    with pytest.raises(Interrupt):
        _run(digits, stem, resume=True, log=interrupt_at(2))
    with pytest.raises(InvalidArgumentError, match="cannot resume"):
        _run(digits, stem, resume=True, sigma=0.5)  # other objective settings
    with pytest.raises(InvalidArgumentError, match="cannot resume"):
        _run(digits, stem, resume=True, cfg=FitConfig(epochs=3, batch_size=32, seed=3))


def test_training_leaves_the_global_random_state_alone(digits):
    model = small_net(digits)
    before = torch.get_rng_state()
    fit(model, GaussianObjective(GaussianNoise(0.2)), digits.x_train[:64], digits.y_train[:64],
        FitConfig(epochs=1, batch_size=32), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_step_schedule_decays_every_lr_step_epochs_as_steplr():
    """Cohen et al.'s recipe (lr 0.01, γ 0.1 every 30 of 90 epochs) gives PyTorch StepLR's rates, epoch by epoch."""
    cfg = FitConfig(epochs=90, lr=0.01, lr_gamma=0.1, lr_step=30, optimizer="sgd").validate()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(1, 91):
        assert cfg.lr_at(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), epoch
        opt.step()
        step.step()
    assert FitConfig(lr=0.5, lr_gamma=0.7).lr_at(3) == pytest.approx(0.5 * 0.7 ** 2)  # lr_step 1: every epoch


@pytest.mark.parametrize("bad", [{"schedule": "linear"}, {"optimizer": "rmsprop"}, {"epochs": 0}, {"lr": 0.0},
                                 {"lr_step": 0}])
def test_invalid_fit_config(bad):
    with pytest.raises(InvalidArgumentError):
        FitConfig(**bad).validate()


def test_checkpoint_sidecar_records_the_objective_and_resumable_state(digits, tmp_path):
    cfg = TrainConfig(train_sigma=0.25, epochs=1, batch_size=128, seed=0)
    small = {"channels": [4, 8], "hidden": 16}
    _, info, _ = train_base_model(digits, "lenet", cfg, tmp_path / "m", arch_args=small, progress=False, resume=True)
    assert read_info(tmp_path / "m").training["objective"] == {"type": "gaussian",
                                                               "noise": GaussianNoise(0.25).to_dict()}
    assert info.training["epochs"] == 1 and len(info.training["history"]) == 1
    assert all(p.is_file() for p in state_paths(tmp_path / "m.state"))
