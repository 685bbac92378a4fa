"""The smoothing-specific training objectives: hand-computed batch losses, learning, resumption, the CLI."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from smoothcert.cli import main
from smoothcert.data import load_dataset
from smoothcert.errors import InvalidArgumentError
from smoothcert.noise import GaussianNoise, LaplaceNoise, Noise
from smoothcert.training import (
    NOISE_OBJECTIVES,
    OBJECTIVES,
    CatRsObjective,
    ConsistencyObjective,
    FitConfig,
    MacerObjective,
    SmoothAdvObjective,
    SmoothMixObjective,
    StabilityObjective,
    TrainConfig,
    fit,
    make_objective,
    objective_options,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


class TableNoise(Noise):
    """A stub noise: fills each buffer with the given values (row by row, as many rows as the buffer has)."""

    def __init__(self, values: list, sigma: float = 0.5) -> None:
        self.values = torch.tensor(values, dtype=torch.float32)
        self.sigma = sigma
        self.shapes: list[tuple[int, ...]] = []

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self.shapes.append(tuple(out.shape))
        return out.copy_(self.values.view(out.shape))

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        return np.zeros_like(np.asarray(p_a_lower, dtype=np.float64))

    def probability_for_radius(self, radius: float) -> float:
        return 1.0

    def to_dict(self) -> dict:
        return {"type": "table"}


def linear(weight: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
    return layer


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


IDENTITY = [[1.0, 0.0], [0.0, 1.0]]  # logits = input
GEN = torch.Generator().manual_seed(0)


# --- each loss on a tiny batch, by hand ---------------------------------------------------------------------

def test_stability_loss_is_noisy_ce_plus_lambda_kl_from_clean_to_noisy():
    objective = StabilityObjective(TableNoise([[1.0, 0.0]]), lbd=2.0)
    x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([0])
    loss, terms = objective.loss(linear(IDENTITY), x, y, GEN, epoch=1)
    # clean logits [0, 0]: p = [½, ½]; noisy logits [1, 0]: q = [σ(1), σ(−1)].
    kl = 0.5 * math.log(0.5 / sig(1)) + 0.5 * math.log(0.5 / sig(-1))
    assert terms["kl"] == pytest.approx(kl, rel=1e-5)
    assert terms["ce"] == pytest.approx(softplus(-1), rel=1e-6)
    assert loss.item() == pytest.approx(softplus(-1) + 2.0 * kl, rel=1e-5)
    assert terms["train_accuracy"] == 1.0
    assert objective.to_dict() == {"type": "stability", "noise": {"type": "table"}, "lbd": 2.0}


def test_consistency_loss_is_mean_ce_plus_lambda_kl_to_the_mean_plus_eta_entropy():
    # Copy 1 of the input gets noise [1, 0], copy 2 gets [0, 1]: logits [1, 0] and [0, 1], mean prediction [½, ½].
    noise = TableNoise([[1.0, 0.0], [0.0, 1.0]])
    objective = ConsistencyObjective(noise, m=2, lbd=10.0, eta=0.5)
    loss, terms = objective.loss(linear(IDENTITY), torch.tensor([[0.0, 0.0]]), torch.tensor([0]), GEN, epoch=1)
    ce = (softplus(-1) + softplus(1)) / 2
    kl = 0.5 * math.log(0.5 / sig(1)) + 0.5 * math.log(0.5 / sig(-1))  # KL([½, ½] ‖ p_i), the same for both copies
    assert noise.shapes == [(2, 2)]  # m·B rows, one draw
    assert terms["ce"] == pytest.approx(ce, rel=1e-6)
    assert terms["kl"] == pytest.approx(kl, rel=1e-5)
    assert terms["entropy"] == pytest.approx(math.log(2), rel=1e-6)
    assert loss.item() == pytest.approx(ce + 10.0 * kl + 0.5 * math.log(2), rel=1e-5)
    assert terms["train_accuracy"] == 0.5


@pytest.mark.parametrize("epoch", [1, 2])
def test_macer_loss_is_soft_ce_plus_the_hinge_on_the_soft_radius(epoch):
    # Two inputs [0, 0] (labels 0, 1), two copies each, rows copy by copy: [c1 x1, c1 x2, c2 x1, c2 x2].
    noise = TableNoise([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], sigma=0.5)
    objective = MacerObjective(noise, m=2, lbd=3.0, gamma=8.0, beta=2.0, deferred=1)
    x, y = torch.zeros(2, 2), torch.tensor([0, 1])
    assert objective.start_epoch(epoch) == {"lbd": 0.0 if epoch == 1 else 3.0}
    loss, terms = objective.loss(linear(IDENTITY), x, y, GEN, epoch)
    p1 = (sig(1) + 0.5) / 2  # ĝ_0 of input 1; input 2 has ĝ = [½, ½]
    ce = (-math.log(p1) + math.log(2)) / 2
    assert terms["ce"] == pytest.approx(ce, rel=1e-6)
    if epoch == 1:  # deferred: no radius term
        assert loss.item() == pytest.approx(ce, rel=1e-6)
        return
    # Input 1 at β = 2: p_A = (σ(2) + ½)/2, p_B = 1 − p_A, ξ = 2Φ⁻¹(p_A). Input 2 is a tie, its top class 0 ≠ 1:
    # outside S.
    pa = (sig(2) + 0.5) / 2
    xi = NormalDist().inv_cdf(pa) - NormalDist().inv_cdf(1 - pa)
    radius = 0.5 / 2 * (8.0 - xi) / 2
    assert terms["radius_loss"] == pytest.approx(radius, rel=1e-5)
    assert terms["hinged"] == 0.5
    assert loss.item() == pytest.approx(ce + 3.0 * radius, rel=1e-5)


def test_macer_margin_leaves_out_inputs_already_past_it():
    noise = TableNoise([[5.0, 0.0], [5.0, 0.0]])
    objective = MacerObjective(noise, m=2, lbd=3.0, gamma=0.5, beta=2.0)
    _, terms = objective.loss(linear(IDENTITY), torch.zeros(1, 2), torch.tensor([0]), GEN, epoch=1)
    assert terms["hinged"] == 0.0 and terms["radius_loss"] == 0.0  # ξ = 2Φ⁻¹(σ(10)) > γ


@pytest.mark.parametrize(("epoch", "eps"), [(1, 0.05), (2, 0.1), (3, 0.1)])
def test_smoothadv_trains_on_the_pgd_example_of_the_smoothed_classifier(epoch, eps):
    # Logits [2x, −2x] of a scalar input: the smoothed loss of class 0 falls with x, of class 1 rises, so the ℓ2
    # attack (steps of 2ε/5) ends on the far edge of the ε-ball around 0.5 whatever the noise.
    noise = TableNoise([[0.1], [-0.1], [0.2], [0.0]])  # [c1 x1, c1 x2, c2 x1, c2 x2]
    objective = SmoothAdvObjective(noise, eps=0.1, steps=5, m=2, warmup=2)
    model = linear([[2.0], [-2.0]]).train()
    x, y = torch.tensor([[0.5], [0.5]]), torch.tensor([0, 1])
    assert objective.start_epoch(epoch) == {"eps": eps}
    loss, terms = objective.loss(model, x, y, GEN, epoch)
    low, high = 0.5 - eps, 0.5 + eps
    expected = (softplus(-4 * (low + 0.1)) + softplus(-4 * (low + 0.2)) + softplus(4 * (high - 0.1))
                + softplus(4 * high)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert noise.shapes == [(2, 2, 1)]  # one draw of m × B samples, shared by attack and loss
    assert model.training
    assert 0 <= terms["train_accuracy"] <= 1


@pytest.mark.parametrize(("mix_step", "epoch"), [(0, 2), (1, 1), (1, 2)])
def test_smoothmix_loss_is_noisy_ce_plus_eta_masked_kl_to_the_mixup_target(mix_step, epoch):
    # Logits [2z, −2z] of a scalar input z: F_0(z) = σ(4z). Both inputs are 0.5 (labels 0, 1); each attack step
    # (α = 0.1) moves the input by α away from its label: x^(t) = 0.5 ∓ 0.1·t, so x_adv = 0.3 and 0.7 after T = 2.
    noise = TableNoise([[0.1], [-0.1], [0.2], [0.0]])  # [c1 x1, c1 x2, c2 x1, c2 x2]
    objective = SmoothMixObjective(noise, m=2, steps=2, alpha=0.1, eta=3.0, mix_step=mix_step, warmup=2)
    x, y = torch.tensor([[0.5], [0.5]]), torch.tensor([0, 1])
    w = min(1.0, epoch / 2)
    assert objective.start_epoch(epoch) == {"eta": pytest.approx(3.0 * w)}
    model = linear([[2.0], [-2.0]]).train()
    loss, terms = objective.loss(model, x, y, torch.Generator().manual_seed(7), epoch)
    lam = torch.rand(2, generator=torch.Generator().manual_seed(7))[0].item() / 2  # the stub draws nothing
    # Clean noisy copies: x1 at 0.6, 0.7 (label 0), x2 at 0.4, 0.5 (label 1).
    ce = (softplus(-4 * 0.6) + softplus(-4 * 0.7) + softplus(4 * 0.4) + softplus(4 * 0.5)) / 4
    p_hat = (sig(4 * 0.6) + sig(4 * 0.7)) / 2  # F̂_0(x1) > ½: x1 is in the mask; F̂(x2) also favours 0 ≠ 1: out
    # The clean end for x1: x^(0) = 0.5, or x^(1) = 0.4 kept within α·1·w of 0.5.
    start = 0.5 if mix_step == 0 else 0.5 - min(0.1, 0.1 * w)
    mixed = (1 - lam) * start + lam * 0.3
    target = [(1 - lam) * p_hat + lam / 2, (1 - lam) * (1 - p_hat) + lam / 2]
    kl = 0.0
    for delta in (0.1, 0.2):
        q = [sig(4 * (mixed + delta)), sig(-4 * (mixed + delta))]
        kl += sum(t * math.log(t / qc) for t, qc in zip(target, q, strict=True))
    mixup = kl / 4  # mean over m·B = 4 pairs, x2's two masked
    assert terms["ce"] == pytest.approx(ce, rel=1e-5)
    assert terms["mixup"] == pytest.approx(mixup, rel=1e-4)
    assert terms["train_accuracy"] == 0.5
    assert loss.item() == pytest.approx(ce + 3.0 * w * mixup, rel=1e-5)
    assert noise.shapes == [(2, 2, 1)]  # one draw of m × B samples, shared by attack and loss
    assert model.training


def test_smoothmix_bounded_attack_stays_in_the_eps_ball():
    from smoothcert.training.objectives.smoothmix import smoothmix_pgd_l2

    model = linear([[2.0], [-2.0]])
    x, y = torch.tensor([[0.5], [0.5]]), torch.tensor([0, 1])
    noise = torch.tensor([[[0.1], [-0.1]], [[0.2], [0.0]]])
    start, adv = smoothmix_pgd_l2(model, x, y, noise, alpha=0.1, steps=3, mix_step=1, eps=0.15)
    assert torch.allclose(adv, torch.tensor([[0.35], [0.65]]))
    assert torch.allclose(start, torch.tensor([[0.4], [0.6]]))


@pytest.mark.parametrize("lbd", [0.0, 1.5])
def test_catrs_loss_is_bottom_k_ce_plus_lambda_worst_noise_kl_for_fully_accepted_inputs(lbd):
    # Logits [2z, −2z] of a scalar input z: F_0(z) = σ(4z). x1 = 0.5 (label 0) has copies at 0.6, 0.7, both right:
    # p̂ = 1, K = m = 2 whatever the draw, so it gets L_high. x2 = 0.5 (label 1) has copies at 0.4, 0.5, both
    # wrong: p̂ = 0, K = 1 (the floor), so only its smaller CE counts, divided by m. A 1-coordinate noise keeps its
    # mean and standard deviation only by staying put, so δ* = δ and L_high is the KL at the drawn copies.
    noise = TableNoise([[0.1], [-0.1], [0.2], [0.0]])  # [c1 x1, c1 x2, c2 x1, c2 x2]
    objective = CatRsObjective(noise, m=2, eps=0.3, steps=3, lbd=lbd)
    model = linear([[2.0], [-2.0]]).train()
    loss, terms = objective.loss(model, torch.tensor([[0.5], [0.5]]), torch.tensor([0, 1]), GEN, epoch=1)
    low1 = (softplus(-4 * 0.6) + softplus(-4 * 0.7)) / 2
    low2 = min(softplus(4 * 0.4), softplus(4 * 0.5)) / 2
    p0 = (sig(4 * 0.6) + sig(4 * 0.7)) / 2
    target = [p0, 1 - p0]
    kls = [sum(t * math.log(t / q) for t, q in zip(target, [sig(4 * z), sig(-4 * z)], strict=True))
           for z in (0.6, 0.7)]
    assert terms["low"] == pytest.approx((low1 + low2) / 2, rel=1e-5)
    assert terms["accepted"] == 0.5 and terms["train_accuracy"] == 0.5
    assert terms["high"] == (pytest.approx(max(kls), rel=1e-4) if lbd else 0.0)
    assert loss.item() == pytest.approx((low1 + lbd * max(kls) + low2) / 2, rel=1e-5)
    assert noise.shapes == [(2, 2, 1)]  # one draw of m × B samples, shared by the search and the loss
    assert model.training


def test_catrs_bottom_k_follows_the_binomial_draw():
    # One input right under 1 of its 2 copies: p̂ = ½, K ~ Binomial(2, ½) floored at 1, so L_low is the smaller CE
    # / 2 (K = 1) or the mean CE (K = 2, and then L_high with λ = 0 adds nothing). Both occur over seeds, with the
    # binomial frequencies.
    noise = TableNoise([[0.1], [-0.9]])  # copies at 0.6 (right for label 0) and −0.4 (wrong)
    objective = CatRsObjective(noise, m=2, lbd=0.0)
    model = linear([[2.0], [-2.0]]).train()
    small, big = softplus(-4 * 0.6), softplus(4 * 0.4)
    seen = []
    for seed in range(400):
        loss, terms = objective.loss(model, torch.tensor([[0.5]]), torch.tensor([0]),
                                     torch.Generator().manual_seed(seed), epoch=1)
        k = 2 if terms["accepted"] else 1
        assert loss.item() == pytest.approx(small / 2 if k == 1 else (small + big) / 2, rel=1e-5)
        seen.append(k)
    assert 0.19 < seen.count(2) / len(seen) < 0.31  # P(K = 2) = ¼; 400 draws: ± 5 standard deviations


def test_catrs_worst_noise_raises_the_kl_and_keeps_each_samples_moments():
    from smoothcert.training.objectives.catrs import worst_noise

    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    x = torch.rand(4, 6)
    noise = 0.5 * torch.randn(2, 4, 6)
    target = torch.softmax(model(x), 1).detach()

    def kl(delta):
        log_q = torch.log_softmax(model((x.unsqueeze(0) + delta).flatten(0, 1)), 1).view(2, 4, 3)
        return (target * (target.log() - log_q)).sum(2)

    adv = worst_noise(model, x, noise, target, eps=0.5, steps=4)
    assert adv.shape == noise.shape
    assert torch.allclose(adv.mean(2), noise.mean(2), atol=1e-5)
    assert torch.allclose(adv.std(2), noise.std(2), atol=1e-5)
    before, after = kl(noise).detach(), kl(adv).detach()
    assert bool((after >= before - 1e-6).all()) and float(after.sum()) > 1.2 * float(before.sum())
    assert not any(p.grad is not None for p in model.parameters())


# --- settings, registry, factory ----------------------------------------------------------------------------

def test_registry_and_factory():
    assert set(NOISE_OBJECTIVES) <= set(OBJECTIVES)
    noise = GaussianNoise(0.25)
    for method in NOISE_OBJECTIVES:
        objective = make_objective(method, noise)
        assert isinstance(objective, OBJECTIVES[method]) and objective.name == method
        assert objective.to_dict()["type"] == method
        assert objective.to_dict()["noise"] == noise.to_dict()
        json.dumps(objective.to_dict())
    assert make_objective("consistency", noise, {"lbd": 20.0, "m": 4}).to_dict()["m"] == 4


@pytest.mark.parametrize(("method", "options", "fragment"), [
    ("consistency", {"m": 1}, "m (num_noise_vec)"), ("consistency", {"lbd": -1.0}, "lbd"),
    ("stability", {"lbd": float("nan")}, "lbd"), ("macer", {"gamma": 0.0}, "gamma"),
    ("macer", {"deferred": -1}, "deferred"), ("smoothadv", {"eps": 0.0}, "eps"),
    ("smoothadv", {"steps": 0}, "steps"), ("macer", {"margin": 1.0}, "no option margin"),
    ("gaussian", {"lbd": 1.0}, "no options"), ("trades", {}, "unknown objective"),
    ("smoothmix", {"steps": 2, "mix_step": 2}, "mix_step must be < steps"), ("smoothmix", {"eps": 0.0}, "eps"),
    ("smoothmix", {"alpha": -1.0}, "alpha"), ("smoothmix", {"warmup": -1}, "warmup"),
    ("catrs", {"eps": 0.0}, "eps"), ("catrs", {"steps": 0}, "steps"), ("catrs", {"lbd": -1.0}, "lbd"),
    ("catrs", {"m": 0}, "m (num_noise_vec)"),
])
def test_bad_settings_are_refused(method, options, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make_objective(method, GaussianNoise(0.25), options)


def test_noise_is_required_and_macer_needs_a_sigma():
    with pytest.raises(InvalidArgumentError, match="needs a training noise"):
        make_objective("consistency", None)
    with pytest.raises(InvalidArgumentError, match="Gaussian"):
        MacerObjective(LaplaceNoise(0.3))
    with pytest.raises(InvalidArgumentError, match="train_sigma > 0"):
        TrainConfig(train_sigma=0.0, method="stability").validate()


def test_the_command_line_offers_every_objective_and_each_ones_flags():
    from smoothcert.cli.core import OBJECTIVE_CHOICES, OBJECTIVE_FLAGS
    from smoothcert.training.objectives import OPTION_FLAGS

    assert OBJECTIVE_CHOICES == NOISE_OBJECTIVES
    assert set(OBJECTIVE_FLAGS) == {flag for table in OPTION_FLAGS.values() for flag in table}


def test_command_line_options_map_to_one_objective():
    assert objective_options("consistency", {"num_noise_vec": 4, "consistency_lambda": 20.0, "macer_gamma": None}) \
        == {"m": 4, "lbd": 20.0}
    assert objective_options("gaussian", {"num_noise_vec": None}) == {}
    with pytest.raises(InvalidArgumentError, match="--consistency-eta is an option of --objective consistency"):
        objective_options("macer", {"consistency_eta": 0.5})


# --- training with each objective ---------------------------------------------------------------------------

def small_net(data, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    d = math.prod(data.input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, data.num_classes))


EXAMPLES = {
    "stability": lambda: StabilityObjective(GaussianNoise(0.25), lbd=2.0),
    "consistency": lambda: ConsistencyObjective(GaussianNoise(0.25), m=2, lbd=5.0, eta=0.5),
    "macer": lambda: MacerObjective(GaussianNoise(0.25), m=4, lbd=1.0, gamma=8.0, beta=16.0),
    "smoothadv": lambda: SmoothAdvObjective(GaussianNoise(0.25), eps=0.5, steps=2, m=2, warmup=0),
    "smoothmix": lambda: SmoothMixObjective(GaussianNoise(0.25), m=2, steps=2, alpha=0.5, eta=1.0, warmup=0),
    "catrs": lambda: CatRsObjective(GaussianNoise(0.25), m=2, eps=0.5, steps=2, lbd=1.0),
}


@pytest.mark.parametrize("method", sorted(EXAMPLES))
def test_training_reduces_the_loss(digits, method):
    model = small_net(digits)
    log = fit(model, EXAMPLES[method](), digits.x_train[:400], digits.y_train[:400],
              FitConfig(epochs=4, batch_size=100, lr=2e-2, seed=0), progress=False)
    # CAT-RS switches its worst-noise term on for more inputs as they become right under noise, so its total can
    # stall while the model learns; its bottom-K cross-entropy must fall and its accuracy under noise rise.
    term = "low" if method == "catrs" else "loss"
    assert log.final[term] < 0.8 * log.epochs[0][term]
    if method == "catrs":
        assert log.final["train_accuracy"] > log.epochs[0]["train_accuracy"] + 0.3
    assert log.objective == EXAMPLES[method]().to_dict()
    assert not model.training


class Interrupt(Exception):
    pass


def test_an_interrupted_consistency_run_resumes_to_the_same_weights(digits, tmp_path):
    def run(stem=None, resume=False, log=None):
        model = small_net(digits)
        fit(model, EXAMPLES["consistency"](), digits.x_train[:300], digits.y_train[:300],
            FitConfig(epochs=3, batch_size=64, lr=0.05, optimizer="sgd", seed=3), state_stem=stem, resume=resume,
            progress=False, log=log)
        return model.state_dict()

    def stop_at_2(line: str) -> None:
        if line.startswith("epoch=2 "):
            raise Interrupt

    whole = run()
    with pytest.raises(Interrupt):
        run(tmp_path / "state", log=stop_at_2)
    resumed = run(tmp_path / "state", resume=True)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


# --- the command line ---------------------------------------------------------------------------------------

def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_trains_with_an_objective_and_records_it(tmp_path):
    stem = tmp_path / "model"
    result = invoke("train", "--arch", "mlp", "--epochs", 1, "--objective", "consistency", "--num-noise-vec", 2,
                    "--consistency-lambda", 5, "--consistency-eta", 0.25, "--out", stem, "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    training = json.loads((tmp_path / "model.json").read_text())["training"]
    assert training["objective"] == {"type": "consistency", "noise": GaussianNoise(0.25).to_dict(), "m": 2,
                                     "lbd": 5.0, "eta": 0.25}
    assert training["method"] == "consistency"


def test_cli_trains_with_smoothmix_and_records_its_options(tmp_path):
    stem = tmp_path / "model"
    result = invoke("train", "--arch", "mlp", "--epochs", 1, "--objective", "smoothmix", "--num-noise-vec", 2,
                    "--smoothmix-eta", 2, "--smoothmix-steps", 2, "--smoothmix-alpha", 0.5, "--smoothmix-mix-step",
                    1, "--smoothmix-eps", 1.5, "--smoothmix-warmup", 0, "--out", stem, "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    training = json.loads((tmp_path / "model.json").read_text())["training"]
    assert training["objective"] == {"type": "smoothmix", "noise": GaussianNoise(0.25).to_dict(), "m": 2,
                                     "steps": 2, "alpha": 0.5, "eta": 2.0, "mix_step": 1, "eps": 1.5, "warmup": 0}


def test_cli_trains_with_catrs_and_records_its_options(tmp_path):
    stem = tmp_path / "model"
    result = invoke("train", "--arch", "mlp", "--epochs", 1, "--objective", "catrs", "--num-noise-vec", 2,
                    "--catrs-eps", 0.5, "--catrs-steps", 2, "--catrs-lambda", 0.5, "--out", stem, "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    training = json.loads((tmp_path / "model.json").read_text())["training"]
    assert training["objective"] == {"type": "catrs", "noise": GaussianNoise(0.25).to_dict(), "m": 2, "eps": 0.5,
                                     "steps": 2, "lbd": 0.5}
    first = training["history"][0]
    assert 0 <= first["accepted"] <= 1 and {"low", "high", "train_accuracy"} <= set(first)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--objective", "catrs", "--smoothadv-eps", 1], "--smoothadv-eps is an option of --objective smoothadv"),
    (["--objective", "macer", "--consistency-lambda", 3], "--consistency-lambda is an option of --objective"),
    (["--stability-lambda", 1], "--stability-lambda is an option of --objective stability, not of --objective "
                                "gaussian"),
    (["--objective", "stability", "--train-sigma", 0], "needs training noise"),
    (["--objective", "consistency", "--num-noise-vec", 1], "num_noise_vec"),
    (["--objective", "trades"], "trades"),
    (["--objective", "smoothadv", "--smoothmix-eta", 1], "--smoothmix-eta is an option of --objective smoothmix"),
    (["--objective", "smoothmix", "--smoothmix-steps", 2, "--smoothmix-mix-step", 2], "mix_step must be < steps"),
])
def test_cli_refuses_unknown_combinations_in_one_line(tmp_path, args, fragment):
    result = invoke("train", "--epochs", 1, *args, "--out", tmp_path / "m" / "model", "--quiet")
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_demo_trains_with_an_objective_and_retrains_for_another(tmp_path):
    from smoothcert.workflows import run_demo

    lines: list[str] = []
    small = dict(n=100, epochs=1, max_inputs=4, device="cpu", progress=False, compile_model=False,
                 echo=lines.append)
    run_demo(tmp_path, objective="consistency", **small)
    training = json.loads((tmp_path / "model.json").read_text())["training"]
    assert training["method"] == "consistency" and training["objective"]["type"] == "consistency"
    assert any("the consistency objective" in line for line in lines)
    assert (tmp_path / "certify.tsv").is_file()
    lines.clear()
    run_demo(tmp_path, objective="gaussian", **small)  # another objective: the model is not reused
    assert not any(line.startswith("reusing") for line in lines)
    assert json.loads((tmp_path / "model.json").read_text())["training"]["method"] == "gaussian"
