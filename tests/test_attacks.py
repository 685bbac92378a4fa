"""Attacks: threat-model geometry, PGD and APGD break an undefended model, SmoothAdv breaks a smoothed one."""

from __future__ import annotations

import pytest
import torch

from smoothcert import Smooth
from smoothcert.attacks import (
    AttackConfig,
    AutoAttackConfig,
    SoftSmoothed,
    apgd,
    autoattack,
    checkpoints,
    dlr_from_logits,
    flat_norm,
    loss_and_grad,
    margin,
    pgd,
    predictions,
    project,
    random_start,
    resolve_loss,
    smoothadv,
    square_attack,
    square_fraction,
    targeted_dlr_from_logits,
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


# --- Square Attack, APGD-T and the AutoAttack ensemble --------------------------------------------------------

class _QuantizedLinear(torch.nn.Module):
    """Logits W·q(x) + b of images [N, 1, 8, 8] with q(x) = ⌊16x⌋/16: piecewise constant, so every input gradient
    is 0 and gradient attacks see nothing; with ``levels`` = 0, plain W·x + b."""

    def __init__(self, levels: int = 16, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(10, 64, generator=gen))
        self.b = torch.nn.Parameter(torch.zeros(10))
        self.levels = levels

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x * self.levels).clamp(max=self.levels - 1) / self.levels if self.levels else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x).flatten(1) @ self.w.T + self.b

    @torch.no_grad()
    def breakable(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        """Exactly which inputs [N] (bool) some x' with ‖x' − x‖∞ ≤ ε in [0, 1] misclassifies: the worst margin
        against class j is Σ_i min(d_i q(lo_i), d_i q(hi_i)) with d = w_y − w_j, since q is monotone."""
        lo, hi = self.quantize((x - eps).clamp(0, 1)).flatten(1), self.quantize((x + eps).clamp(0, 1)).flatten(1)
        d = self.w[y][:, None, :] - self.w[None, :, :]  # [N, C, 64]
        worst = torch.minimum(d * lo[:, None, :], d * hi[:, None, :]).sum(-1) + (self.b[y][:, None] - self.b)
        worst.scatter_(1, y[:, None], float("inf"))
        return worst.amin(dim=1) < -1e-4  # clear of ties, which float sums cannot settle


@pytest.fixture(scope="module")
def linear_problem():
    """400 random images [400, 1, 8, 8]; each test labels them with its model's own clean predictions."""
    return torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(1)), None


def _labelled(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _in_threat_model(adv, x, eps):
    return bool(torch.all((adv - x).abs() <= eps + 1e-6) and torch.all((adv >= 0) & (adv <= 1)))


def test_square_fraction_follows_the_papers_schedule():
    """p_init up to query 10 of 10,000, halved at 10, 50, 200, 500, 1k, 2k, 4k, 6k, 8k; rescaled to the budget."""
    assert square_fraction(0.8, 10, 10_000) == 0.8
    assert square_fraction(0.8, 11, 10_000) == 0.4
    assert square_fraction(0.8, 501, 10_000) == pytest.approx(0.8 / 16)
    assert square_fraction(0.8, 9_999, 10_000) == pytest.approx(0.8 / 512)
    assert square_fraction(0.8, 251, 5_000) == square_fraction(0.8, 502, 10_000)  # rescaled


def test_square_attack_breaks_a_model_gradients_cannot_see(linear_problem):
    """On a quantized linear model (zero gradients) APGD breaks nothing it was not handed, while Square breaks
    nearly all the inputs that are breakable, computed exactly, and stays in the ball and the box."""
    x, _ = linear_problem
    model = _QuantizedLinear(levels=16).eval()
    y = _labelled(model, x)
    eps = 0.08
    can = model.breakable(x, y, eps)
    assert 0.2 < can.float().mean() < 0.95  # the problem decides something
    gen = torch.Generator().manual_seed(0)
    adv = square_attack(model, x, y, eps, queries=1000, generator=gen)
    assert _in_threat_model(adv, x, eps)
    broken = _labelled(model, adv) != y
    assert not bool((broken & ~can).any())  # soundness of the exact count, and of the threat model
    assert broken[can].float().mean() >= 0.9
    by_gradient = _labelled(model, apgd(model, x, y, eps, steps=20, generator=gen)) != y
    assert by_gradient.float().mean() < 0.5 * broken.float().mean()


def test_l2_square_attack_breaks_what_gradients_cannot_see_and_stays_on_the_sphere(linear_problem):
    """ℓ2 version: on the quantized linear model (zero gradients) it breaks most inputs at ε = 1 where APGD-ℓ2
    breaks few; every point lies in the ℓ2 ball and the box."""
    x, _ = linear_problem
    model = _QuantizedLinear(levels=16).eval()
    y = _labelled(model, x)
    adv = square_attack(model, x, y, 1.0, norm="l2", queries=500, generator=torch.Generator().manual_seed(0))
    assert bool(torch.all(flat_norm(adv - x, "l2") <= 1.0 + 1e-5)) and bool(torch.all((adv >= 0) & (adv <= 1)))
    square_robust = accuracy(model, adv, y)
    apgd_robust = accuracy(model, apgd(model, x, y, 1.0, norm="l2", steps=20,
                                       generator=torch.Generator().manual_seed(0)), y)
    assert apgd_robust > 0.8 and square_robust < 0.3, (apgd_robust, square_robust)


def test_square_attack_is_deterministic_for_a_seed_and_its_margin_tells_the_broken_inputs(linear_problem):
    x, _ = linear_problem
    model = _QuantizedLinear(levels=16).eval()
    y = _labelled(model, x)
    runs = [square_attack(model, x, y, 0.03, queries=200, generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], x)
    with torch.no_grad():
        m = margin(model(runs[0]), y)
    assert bool(((m < 0) == (_labelled(model, runs[0]) != y)).all())


def test_square_attack_refuses_what_it_does_not_do(linear_problem):
    x, _ = linear_problem
    model = _QuantizedLinear().eval()
    y = _labelled(model, x)
    with pytest.raises(InvalidArgumentError, match="5×5"):
        square_attack(model, x[:, :, :4, :4], y, 0.1, norm="l2")
    with pytest.raises(InvalidArgumentError, match="images"):
        square_attack(model, x.flatten(1), y, 0.1)
    with pytest.raises(InvalidArgumentError, match="queries"):
        square_attack(model, x, y, 0.1, queries=0)


def test_targeted_dlr_is_invariant_to_shift_and_scale_and_signs_the_target_margin():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(50, 10, generator=gen)
    y = torch.randint(0, 10, (50,), generator=gen)
    t = (y + 1 + torch.randint(0, 9, (50,), generator=gen)) % 10
    v = targeted_dlr_from_logits(z, y, t)
    assert torch.allclose(targeted_dlr_from_logits(3.0 * z - 7.0, y, t), v, atol=1e-5)
    z_y, z_t = z.gather(1, y[:, None]).squeeze(1), z.gather(1, t[:, None]).squeeze(1)
    assert torch.equal(v > 0, z_t > z_y)
    with pytest.raises(InvalidArgumentError, match="4 classes"):
        targeted_dlr_from_logits(z[:, :3], y % 3, (y + 1) % 3)


def test_apgd_t_moves_inputs_towards_their_target(linear_problem):
    """APGD-T on a linear model: each broken input lands in its target class far more often than chance."""
    x, _ = linear_problem
    model = _QuantizedLinear(levels=0).eval()
    y = _labelled(model, x)
    with torch.no_grad():
        second = model(x).scatter(1, y[:, None], float("-inf")).argmax(1)
    adv = apgd(model, x, y, 0.05, loss="dlr", targets=second, steps=30, generator=torch.Generator().manual_seed(0))
    pred = _labelled(model, adv)
    assert _in_threat_model(adv, x, 0.05)
    assert (pred != y).float().mean() > 0.2
    assert (pred[pred != y] == second[pred != y]).float().mean() > 0.8
    with pytest.raises(InvalidArgumentError, match="targets"):
        apgd(model, x, y, 0.05, loss="ce", targets=second)
    with pytest.raises(InvalidArgumentError, match="targets"):
        apgd(model, x, y, 0.05, loss="dlr", targets=y)


@pytest.mark.parametrize("levels", [0, 16])
def test_autoattack_reaches_the_exact_robust_accuracy_of_a_linear_model(linear_problem, levels):
    """The ensemble's robust accuracy on a (quantized) linear model is never below the exact one (soundness)
    and within 3 points above it (strength): with gradients (levels 0) and without (levels 16, Square's job)."""
    x, _ = linear_problem
    model = _QuantizedLinear(levels=levels).eval()
    y = _labelled(model, x)
    eps = 0.06
    exact = 1 - model.breakable(x, y, eps).float().mean().item()
    config = AutoAttackConfig(apgd_iter=30, target_classes=3, square_queries=1000)
    adv = autoattack(model, x, y, eps, config=config, seed=0)
    assert _in_threat_model(adv, x, eps)
    robust = accuracy(model, adv, y)
    assert exact - 1e-9 <= robust <= exact + 0.03, (robust, exact)


def test_autoattack_breaks_an_undefended_lenet_and_names_its_members(digits_model):
    model, x, y = digits_model
    config = AutoAttackConfig(apgd_iter=10, target_classes=2, square_queries=50)
    adv = autoattack(model, x[:20], y[:20], 0.3, config=config)
    assert accuracy(model, adv, y[:20]) <= 0.1
    assert config.describe("linf") == \
        "APGD-CE (10 it × 1) + APGD-T (2 targets × 10 it) + Square (50 queries, p_init 0.8)"
    assert "Square" in config.describe("l2")
    adv2 = autoattack(model, x[:20], y[:20], 2.0, norm="l2", config=config)
    assert bool(torch.all(flat_norm(adv2 - x[:20], "l2") <= 2.0 + 1e-4))
    with pytest.raises(InvalidArgumentError, match="budgets"):
        AutoAttackConfig(apgd_iter=0)


def test_attack_names_say_what_ran():
    assert AttackConfig("pgd", norm="linf", steps=20).describe() == \
        "PGD-ℓ∞, 20 steps of 2.5ε/20, 1 restart(s), CE loss"
    assert AttackConfig("apgd-dlr", norm="l2", steps=50).describe() == "APGD-ℓ2, 50 steps, 1 restart(s), DLR loss"
    assert "AutoAttack" in AttackConfig("autoattack").describe()
