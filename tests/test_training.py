"""Training of base classifiers: reproducibility, noise augmentation, accuracy on digits, argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from smoothcert.data import load_dataset
from smoothcert.errors import InputError, InvalidArgumentError
from smoothcert.models import build_model
from smoothcert.training import TrainConfig, accuracy, channel_stats, top1_correct, train

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def fresh_lenet(data, init_seed: int = 0) -> nn.Module:
    mean, std = channel_stats(data.x_train)
    torch.manual_seed(init_seed)
    return build_model("lenet", data.input_shape, data.num_classes, mean, std, channels=(8, 16), hidden=32)


def trained_state(data, **config) -> dict[str, torch.Tensor]:
    model = fresh_lenet(data)
    train(model, data.x_train[:400], data.y_train[:400], TrainConfig(epochs=1, batch_size=64, **config),
          progress=False)
    return model.state_dict()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_identical_weights(digits):
    first = trained_state(digits, train_sigma=0.25, seed=7)
    second = trained_state(digits, train_sigma=0.25, seed=7)
    assert same_weights(first, second)


def test_another_seed_gives_other_weights(digits):
    assert not same_weights(trained_state(digits, train_sigma=0.25, seed=7),
                            trained_state(digits, train_sigma=0.25, seed=8))


def test_noise_augmentation_changes_training(digits):
    assert not same_weights(trained_state(digits, train_sigma=0.0, seed=1),
                            trained_state(digits, train_sigma=0.5, seed=1))


def test_training_leaves_the_global_random_state_alone(digits):
    before = torch.get_rng_state()
    trained_state(digits, train_sigma=0.25)
    assert torch.equal(torch.get_rng_state(), before)


def test_lenet_learns_digits(digits):
    model = fresh_lenet(digits)
    untrained = accuracy(model, digits.x_test, digits.y_test)
    config = TrainConfig(train_sigma=0.0, epochs=10, batch_size=64, lr=3e-3, seed=0)
    log = train(model, digits.x_train, digits.y_train, config, x_test=digits.x_test, y_test=digits.y_test,
                progress=False)
    assert [r["epoch"] for r in log.epochs] == list(range(1, 11))
    assert log.final is log.epochs[-1]
    assert log.final["loss"] < log.epochs[0]["loss"]
    assert not model.training
    final = accuracy(model, digits.x_test, digits.y_test)
    assert log.final["test_accuracy"] == final
    assert final > 0.8
    assert untrained < 0.5


def test_log_receives_one_line_per_epoch(digits):
    lines: list[str] = []
    model = fresh_lenet(digits)
    train(model, digits.x_train[:100], digits.y_train[:100], TrainConfig(epochs=3, batch_size=50), progress=False,
          log=lines.append)
    assert len(lines) == 3
    assert lines[0].startswith("epoch=1") and "loss=" in lines[0]


@pytest.mark.parametrize("changes", [
    {"train_sigma": -0.1}, {"train_sigma": math.nan}, {"train_sigma": math.inf},
    {"epochs": 0}, {"epochs": -3}, {"batch_size": 0},
    {"lr": 0.0}, {"lr": -1e-3}, {"lr": math.nan},
    {"optimizer": "rmsprop"}, {"optimizer": "Adam "},
])
def test_invalid_config_values(digits, changes):
    config = TrainConfig(**changes)
    with pytest.raises(InvalidArgumentError):
        config.validate()
    model = fresh_lenet(digits)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InvalidArgumentError):
        train(model, digits.x_train[:10], digits.y_train[:10], config, progress=False)
    assert same_weights(model.state_dict(), before)


@pytest.mark.parametrize("changes", [{"weight_decay": -1.0}, {"lr_gamma": -0.5}, {"lr_gamma": 0.0}])
def test_invalid_weight_decay_and_lr_gamma(changes):
    with pytest.raises(InvalidArgumentError):
        TrainConfig(**changes).validate()


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adadelta"])
def test_every_optimizer_trains(digits, optimizer):
    model = fresh_lenet(digits)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lr = 1.0 if optimizer == "adadelta" else 1e-2
    train(model, digits.x_train[:64], digits.y_train[:64], TrainConfig(epochs=1, optimizer=optimizer, lr=lr),
          progress=False)
    assert not same_weights(model.state_dict(), before)


@pytest.mark.parametrize(("n_x", "n_y"), [(0, 0), (10, 9)])
def test_training_data_must_be_nonempty_and_aligned(digits, n_x, n_y):
    with pytest.raises(InputError):
        train(fresh_lenet(digits), digits.x_train[:n_x], digits.y_train[:n_y], TrainConfig(), progress=False)


def test_accuracy_without_noise_is_the_plain_fraction_correct(digits):
    model = fresh_lenet(digits, init_seed=3).eval()
    x, y = digits.x_test, digits.y_test
    with torch.no_grad():
        expected = (model(x).argmax(1) == y).sum().item() / len(y)
    assert accuracy(model, x, y) == expected
    assert accuracy(model, x, y, sigma=0.0, batch_size=7) == expected  # batching does not matter
    assert accuracy(model, x[:0], y[:0]) == 0.0


def test_accuracy_with_noise_uses_one_seeded_noisy_copy(digits):
    model = fresh_lenet(digits, init_seed=3).eval()
    x, y, sigma = digits.x_test, digits.y_test, 0.5
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        noisy = x + sigma * torch.randn(x.shape, generator=gen)
        hits = (model(noisy).argmax(1) == y).numpy()
        expected = hits.sum().item() / len(y)
    assert accuracy(model, x, y, sigma=sigma, seed=11, batch_size=len(x)) == expected
    # per input: the same copies, in input order, as a [N] bool array
    correct = top1_correct(model, x, y, sigma=sigma, seed=11, batch_size=len(x))
    assert correct.dtype == bool and correct.shape == (len(x),) and (correct == hits).all()
    assert accuracy(model, x, y, sigma=sigma, seed=11) == accuracy(model, x, y, sigma=sigma, seed=11)
