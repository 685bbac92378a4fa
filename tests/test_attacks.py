"""Attacks: threat-model geometry, PGD and APGD break an undefended model, SmoothAdv breaks a smoothed one."""

from __future__ import annotations

import pytest
import torch

from smoothcert import Smooth
from smoothcert.attacks import (
    AttackConfig,
    SoftSmoothed,
    apgd,
    art_available,
    autoattack,
    checkpoints,
    dlr_from_logits,
    flat_norm,
    loss_and_grad,
    pgd,
    predictions,
    project,
    random_start,
    resolve_loss,
    smoothadv,
    worst_case_correct,
)
from smoothcert.data import load_dataset
from smoothcert.errors import InputError, InvalidArgumentError
from smoothcert.models import build_model
from smoothcert.training import TrainConfig, train

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def digits_model():
    """An undefended LeNet on the 8×8 digits (about 97% clean accuracy), and 120 test digits it was not trained on."""
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model("lenet", data.input_shape, 10)
    train(model, data.x_train, data.y_train, TrainConfig(epochs=15, lr=3e-3), progress=False)
    x, y = data.x_test[:120], data.y_test[:120]
    assert (predictions(model, x) == y).float().mean() > 0.9
    return model.eval(), x, y


def accuracy(model, x, y) -> float:
    return float((predictions(model, x) == y).float().mean())


# --- geometry ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_and_random_start_stay_in_ball_and_box(norm):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(50, 1, 6, 6, generator=gen)
    eps = torch.linspace(0.0, 2.0, 50)  # per-sample radii, including 0
    far = x + 5 * torch.randn(x.shape, generator=gen)
    for point in (project(far, x, eps, norm), random_start(x, eps, norm, gen)):
        assert torch.all(flat_norm(point - x, norm) <= eps + 1e-5)
        assert point.min() >= 0 and point.max() <= 1
    inside = project(x + 1e-3 * torch.randn(x.shape, generator=gen), x, torch.full((50,), 10.0), norm)
    inside_again = project(inside, x, torch.full((50,), 10.0), norm)
    assert torch.equal(inside, inside_again)  # a projection is idempotent


def test_apgd_checkpoints_follow_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, §3.2), w_j = ⌈p_j·100⌉.
    assert checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]


def test_dlr_loss_value_and_class_count():
    z = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    # −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3) = −(3 − 1)/(3 − 0)
    assert dlr_from_logits(z, torch.tensor([0])).item() == pytest.approx(-2 / 3)
    with pytest.raises(InvalidArgumentError, match="3 classes"):
        dlr_from_logits(torch.zeros(1, 2), torch.tensor([0]))


def test_bad_arguments_raise_typed_errors(digits_model):
    model, x, y = digits_model
    with pytest.raises(InputError):
        pgd(model, x, y[:5], 0.1)
    with pytest.raises(InvalidArgumentError, match="norm"):
        pgd(model, x, y, 0.1, norm="l7")
    with pytest.raises(InvalidArgumentError, match="eps"):
        apgd(model, x, y, -0.1)
    with pytest.raises(InvalidArgumentError, match="loss"):
        resolve_loss("hinge")
    with pytest.raises(InvalidArgumentError):
        AttackConfig("fgsm")


# --- attacks work ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "norm", "eps"), [
    ("pgd", "linf", 0.3), ("apgd-ce", "linf", 0.3), ("apgd-dlr", "linf", 0.3),
    ("pgd", "l2", 3.0), ("apgd-ce", "l2", 3.0),
])
def test_attacks_break_an_undefended_model_at_large_eps(digits_model, method, norm, eps):
    model, x, y = digits_model
    adv = AttackConfig(method, norm=norm, steps=20).run(model, x, y, eps, generator=torch.Generator().manual_seed(1))
    assert torch.all(flat_norm(adv - x, norm) <= eps + 1e-5) and adv.min() >= 0 and adv.max() <= 1
    assert accuracy(model, adv, y) <= 0.05


def test_attacks_leave_parameters_alone_and_respect_per_sample_budgets(digits_model):
    model, x, y = digits_model
    model.zero_grad(set_to_none=True)  # training left the last batch's gradients
    steps = torch.zeros(len(x), dtype=torch.long)
    steps[::2] = 5
    adv = pgd(model, x, y, 0.2, steps=steps, random_init=False, keep="last")
    assert torch.equal(adv[1::2], x[1::2])  # zero iterations: never moved
    assert not torch.equal(adv[::2], x[::2])
    assert all(p.grad is None for p in model.parameters())
    eps = torch.linspace(0, 0.3, len(x))
    adv = apgd(model, x, y, eps, steps=5)
    assert torch.all(flat_norm(adv - x, "linf") <= eps + 1e-6)


def test_stronger_budget_breaks_at_least_as_much(digits_model):
    """A sanity check of the attack loop: at ε = 0 nothing changes, and robust accuracy falls with ε."""
    model, x, y = digits_model
    gen = torch.Generator().manual_seed(2)
    accs = [accuracy(model, pgd(model, x, y, e, steps=10, generator=gen), y) for e in (0.0, 0.05, 0.1, 0.3)]
    assert accs[0] == accuracy(model, x, y)
    assert accs[0] > accs[1] > accs[3]


def test_worst_case_correct_runs_attacks_on_survivors(digits_model):
    model, x, y = digits_model
    clean = predictions(model, x) == y
    assert torch.equal(worst_case_correct(model, x, y, []), clean)
    calls = []

    def identity(m, xb, yb):
        calls.append(len(xb))
        return xb

    def weak(m, xb, yb):
        calls.append(len(xb))
        return pgd(m, xb, yb, 0.05, steps=5, generator=torch.Generator().manual_seed(0))

    ok = worst_case_correct(model, x, y, [identity, weak, identity], batch_size=60)
    survivors = int(ok[:60].sum())
    assert 0 < survivors < int(clean[:60].sum())  # the weak attack breaks some inputs, not all
    assert calls[:3] == [int(clean[:60].sum()), int(clean[:60].sum()), survivors]  # later attacks see survivors
    assert not torch.any(ok & ~clean)


def test_loss_and_grad_reaches_the_input_only(digits_model):
    model, x, y = digits_model
    loss, grad, pred = loss_and_grad(resolve_loss("ce"), model, x[:4], y[:4])
    assert loss.shape == (4,) and grad.shape == x[:4].shape and pred.shape == (4,)
    assert grad.abs().sum() > 0 and not x.requires_grad


# --- smoothed classifiers --------------------------------------------------------------------------------------

def test_soft_smoothed_is_a_mean_of_softmaxes():
    torch.manual_seed(0)
    base = build_model("mlp", (4,), 3, hidden=(8,))
    soft = SoftSmoothed(base, sigma=0.5, num_noise=1000, seed=3)
    x = torch.rand(2, 4)
    probs = soft(x).exp()
    assert torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    # With σ → tiny, the soft smoothed classifier is the base model's softmax.
    sharp = SoftSmoothed(base, sigma=1e-6, num_noise=4)
    assert torch.allclose(sharp(x).exp(), base(x).softmax(1), atol=1e-4)


def test_smoothadv_breaks_the_smoothed_classifier_of_an_undefended_model(digits_model):
    model, x, y = digits_model
    x, y = x[:30], y[:30]
    sigma = 0.1
    smooth = Smooth(model, 10, sigma, seed=0)

    def smoothed_accuracy(inputs):
        preds = smooth.predict_batch(inputs, 200, 0.01, indices=range(len(inputs)))
        return sum(p.prediction == int(t) for p, t in zip(preds, y, strict=True)) / len(y)

    assert smoothed_accuracy(x) > 0.8
    adv = smoothadv(model, x, y, 4.0, sigma=sigma, norm="l2", steps=15, num_noise=8,
                    generator=torch.Generator().manual_seed(0))
    assert torch.all(flat_norm(adv - x, "l2") <= 4.0 + 1e-4)
    assert smoothed_accuracy(adv) <= 0.1


# --- optional AutoAttack ----------------------------------------------------------------------------------------

def test_autoattack_is_optional(digits_model):
    model, x, y = digits_model
    if not art_available():
        with pytest.raises(InvalidArgumentError, match="adversarial-robustness-toolbox"):
            autoattack(model, x[:4], y[:4], 0.3)
        return
    from smoothcert.attacks import AutoAttackConfig

    adv = autoattack(model, x[:20], y[:20], 0.3, config=AutoAttackConfig(apgd_iter=10, square_queries=50))
    assert accuracy(model, adv, y[:20]) <= 0.1


def test_attack_names_say_what_ran():
    assert AttackConfig("pgd", norm="linf", steps=20).describe() == \
        "PGD-ℓ∞, 20 steps of 2.5ε/20, 1 restart(s), CE loss"
    assert AttackConfig("apgd-dlr", norm="l2", steps=50).describe() == "APGD-ℓ2, 50 steps, 1 restart(s), DLR loss"
    assert "AutoAttack" in AttackConfig("autoattack").describe()
