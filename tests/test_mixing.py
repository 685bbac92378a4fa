"""The mixed classifier, the mixing network, adversarial and mixing-network training (seeded, resumable)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from smoothcert.attacks import flat_norm, loss_and_grad, pgd
from smoothcert.data import load_dataset
from smoothcert.errors import CheckpointError, InvalidArgumentError
from smoothcert.models import (
    MixedClassifier,
    MixingNetwork,
    build_model,
    composite_attack_loss,
    default_feature_layers,
    load_mixing,
    mix_log_probs,
    save_mixing,
)
from smoothcert.studies.mixing import AdversarialConfig, MixingConfig, adversarial_train, build_mixed, train_mixing

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def bases():
    """Two different (untrained) LeNets on 8×8 digits, and 64 digits."""
    data = load_dataset("digits")
    torch.manual_seed(0)
    g = build_model("lenet", data.input_shape, 10)
    h = build_model("lenet", data.input_shape, 10)
    return g.eval(), h.eval(), data.x_train[:64], data.y_train[:64]


def test_mix_log_probs_is_the_log_of_the_mixture():
    gen = torch.Generator().manual_seed(0)
    zg, zh = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    alpha = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    direct = torch.log((1 - alpha[:, None]) * zg.softmax(1) + alpha[:, None] * zh.softmax(1))
    mixed = mix_log_probs(zg.log_softmax(1), zh.log_softmax(1), alpha)
    assert torch.allclose(mixed, direct, atol=1e-6)
    assert torch.equal(mixed[0], zg.log_softmax(1)[0]) and torch.equal(mixed[4], zh.log_softmax(1)[4])


@pytest.mark.parametrize(("s_g", "s_h"), [(1.0, 1.0), (2.0, 0.5)])
def test_mixture_equals_each_base_model_at_alpha_0_and_1(bases, s_g, s_h):
    g, h, x, _ = bases
    expect_g = F.log_softmax(s_g * g(x), dim=1)
    expect_h = F.log_softmax(s_h * h(x), dim=1)
    assert torch.equal(MixedClassifier(g, h, alpha=0.0, s_g=s_g, s_h=s_h)(x), expect_g)
    assert torch.equal(MixedClassifier(g, h, alpha=1.0, s_g=s_g, s_h=s_h)(x), expect_h)
    # The same through a mixing network whose α range is pinned to {0} or {1} (evaluation mode).
    for value, expect in ((0.0, expect_g), (1.0, expect_h)):
        model = MixedClassifier(g, h, mixing=MixingNetwork(g, h, x[:1]), s_g=s_g, s_h=s_h).eval()
        model.mixing.set_alpha_range(value, value)
        out = model.forward_with_gamma(x)
        assert torch.all(out.alpha == value)
        assert torch.equal(out.log_probs, expect)
    # In between, the outputs are the mixture's log-probabilities and argmax differs from neither trivially.
    half = MixedClassifier(g, h, alpha=0.5, s_g=s_g, s_h=s_h)(x)
    assert torch.allclose(half.exp(), 0.5 * expect_g.exp() + 0.5 * expect_h.exp(), atol=1e-6)


def test_gradients_flow_through_alpha_to_the_attack(bases):
    g, h, x, y = bases
    model = MixedClassifier(g, h, mixing=MixingNetwork(g, h, x[:1])).eval()
    # The objective BCE(γ′, 1) (weight 1) depends on x only through α(x): a non-zero input gradient can only
    # have come through the mixing network and the base models' features it reads.
    _, grad, _ = loss_and_grad(composite_attack_loss(1.0), model, x, y)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # Attacking that objective lowers α(x): the attack sees and uses the mixing network. (An untrained network's
    # γ varies little between inputs; a larger reparameterization scale makes α respond visibly.)
    model.mixing.set_reparameterization(20.0, 0.0)
    with torch.no_grad():
        before = model.forward_with_gamma(x).alpha
    adv = pgd(model, x, y, 0.3, steps=10, loss=composite_attack_loss(1.0), keep="last")
    with torch.no_grad():
        after = model.forward_with_gamma(adv).alpha
    assert (after < before).float().mean() > 0.9
    # Gradients stay finite when the α range pins α to an end.
    model.mixing.set_alpha_range(1.0, 1.0)
    _, grad, _ = loss_and_grad(composite_attack_loss(0.5), model, x, y)
    assert torch.isfinite(grad).all()


def test_base_models_are_frozen_and_stay_in_eval_mode(bases):
    g, h, x, _ = bases
    model = MixedClassifier(g, h, mixing=MixingNetwork(g, h, x[:1]))
    model.train()
    assert model.mixing.training and not g.training and not h.training
    assert all(not p.requires_grad for p in (*g.parameters(), *h.parameters()))
    assert all(p.requires_grad for p in model.mixing.parameters())
    # The α range is applied in evaluation mode only.
    model.mixing.set_alpha_range(0.2, 0.3)
    with torch.no_grad():
        model.eval()
        assert torch.all((model.forward_with_gamma(x).alpha >= 0.2) & (model.forward_with_gamma(x).alpha <= 0.3))


def test_default_feature_layers_of_lenet_on_mnist_shapes():
    model = build_model("lenet", (1, 28, 28), 10)
    # LeNet: 0 Normalize, 1 conv, 2 ReLU, 3 pool, 4 conv, 5 ReLU (32×14×14), 6 pool (32×7×7), 7 flatten, ...
    assert default_feature_layers(model, torch.zeros(1, 1, 28, 28)) == ["5", "6"]
    net = MixingNetwork(model, build_model("lenet", (1, 28, 28), 10), torch.zeros(1, 1, 28, 28))
    assert net.grid == 7


def test_bad_mixing_arguments(bases):
    g, h, x, _ = bases
    with pytest.raises(InvalidArgumentError):
        MixedClassifier(g, h)
    with pytest.raises(InvalidArgumentError):
        MixedClassifier(g, h, alpha=1.5)
    with pytest.raises(InvalidArgumentError):
        MixedClassifier(g, h, alpha=0.5, s_g=0.0)
    net = MixingNetwork(g, h, x[:1])
    with pytest.raises(InvalidArgumentError):
        net.set_alpha_range(0.6, 0.4)
    with pytest.raises(InvalidArgumentError, match="not found"):
        MixingNetwork(g, h, x[:1], standard_layers=["nope"])
    with pytest.raises(InvalidArgumentError):
        MixingConfig(eps_low=1.2, eps_high=1.1).validate()


def test_mixing_loss_is_the_stated_combination():
    cfg = MixingConfig(c_bce=1.0, c_ce=0.5, c_prod=0.1)
    gamma = torch.tensor([0.3, -1.2])
    logp = torch.log(torch.tensor([[0.7, 0.3], [0.4, 0.6]]))
    y, s, w = torch.tensor([0, 0]), torch.tensor([0.0, 1.0]), torch.tensor([2.0, 1.0])
    loss, _ = cfg.objective().combine(gamma, logp, y, s, w)
    bce = torch.tensor([math.log1p(math.exp(0.3)), math.log1p(math.exp(1.2))])  # softplus(γ) for s=0, softplus(−γ) s=1
    ce = torch.tensor([-math.log(0.7), -math.log(0.4)])
    per = 1.0 * bce + 0.5 * ce + 0.1 * bce * ce
    assert loss.item() == pytest.approx(float((per * w).sum() / w.sum()), rel=1e-6)


def test_attacked_copies_use_random_radii_within_the_range(bases):
    g, h, x, y = bases
    cfg = MixingConfig(eps=0.2, eps_low=0.4, eps_high=1.1, steps_low=1, steps_high=3)
    model = build_mixed(g, h, x[:1], cfg).eval()
    adv = cfg.objective().attacked_copy(model, x, y, torch.Generator().manual_seed(0))
    size = flat_norm(adv - x, "linf")
    assert torch.all(size <= 0.2 * 1.1 + 1e-6)
    assert size.std() > 0  # radii differ between inputs


class Interrupt(Exception):
    pass


def stop_after(epochs: int):
    """A log callback that interrupts training once ``epochs`` epochs are logged (their state is saved first only
    for the epochs before; the interrupted epoch's state is not)."""
    seen = []

    def log(line: str) -> None:
        seen.append(line)
        if len(seen) > epochs:
            raise Interrupt

    return log


def _train(bases, tmp_path, epochs=2, state=True, log=None):
    g, h, x, y = bases
    cfg = MixingConfig(eps=0.2, epochs=epochs, batch_size=32, steps_high=2, width=8, blocks=1)
    model = build_mixed(g, h, x[:1], cfg)
    history = train_mixing(model, x, y, cfg, state=tmp_path / "mix.state" if state else None, progress=False,
                           log=log)
    return model, cfg, history


def test_mixing_training_is_seeded_and_resumes_to_the_same_network(bases, tmp_path):
    straight, _, log = _train(bases, tmp_path / "a")
    assert [r["epoch"] for r in log.epochs] == [1, 2]
    with pytest.raises(Interrupt):  # interrupted during epoch 2: only epoch 1's state is on disk
        _train(bases, tmp_path / "b", log=stop_after(1))
    resumed, _, log_b = _train(bases, tmp_path / "b")
    assert [r["epoch"] for r in log_b.epochs] == [1, 2]
    for (k, a), (_, b) in zip(straight.mixing.state_dict().items(), resumed.mixing.state_dict().items(),
                              strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    # A state made with other settings is refused.
    g, h, x, y = bases
    other = MixingConfig(eps=0.3, epochs=2, batch_size=32, steps_high=2, width=8, blocks=1)
    with pytest.raises(InvalidArgumentError, match="cannot resume"):
        train_mixing(build_mixed(g, h, x[:1], other), x, y, other, state=tmp_path / "a" / "mix.state",
                     progress=False)


def test_save_and_load_mixing_round_trip(bases, tmp_path):
    g, h, x, _ = bases
    model, _, _ = _train(bases, tmp_path, epochs=1, state=False)
    model.eval()
    save_mixing(model, tmp_path / "mixing", {"config": {}})
    loaded = load_mixing(tmp_path / "mixing", g, h, x[:1])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    with pytest.raises(CheckpointError):
        load_mixing(tmp_path / "missing", g, h, x[:1])


def test_adversarial_training_resumes_to_the_same_model(tmp_path):
    data = load_dataset("digits")
    x, y = data.x_train[:256], data.y_train[:256]
    cfg = AdversarialConfig(eps=0.1, steps=3, epochs=2, eps_warmup=1, batch_size=64)

    def run(stem, log=None):
        torch.manual_seed(0)
        model = build_model("lenet", data.input_shape, 10)
        return model, adversarial_train(model, x, y, cfg, state=stem, progress=False, log=log)

    straight, log = run(tmp_path / "a")
    assert [r["eps"] for r in log.epochs] == [0.1, 0.1]
    with pytest.raises(Interrupt):
        run(tmp_path / "b", log=stop_after(1))
    resumed, _ = run(tmp_path / "b")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
