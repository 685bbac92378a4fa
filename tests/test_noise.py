import numpy as np
import pytest
import torch
from scipy.stats import norm

from smoothcert import GaussianNoise, InvalidArgumentError


def test_radius_formulas():
    noise = GaussianNoise(0.5)
    p = np.array([0.3, 0.5, 0.9, 0.999])
    assert np.allclose(noise.certified_radius(p), np.maximum(0.5 * norm.ppf(p), 0))
    # Top-2 form: σ/2 (Φ⁻¹(pA) − Φ⁻¹(pB)); equals σ Φ⁻¹(pA) when pB = 1 − pA.
    assert np.allclose(noise.certified_radius(p[2:], 1 - p[2:]), noise.certified_radius(p[2:]))
    assert noise.certified_radius(np.array([0.6]), np.array([0.2]))[0] == pytest.approx(
        0.25 * (norm.ppf(0.6) - norm.ppf(0.2))
    )
    assert noise.certified_radius(np.array([0.4]), np.array([0.5]))[0] == 0.0


def test_sampler_moments_and_in_place():
    noise = GaussianNoise(0.3)
    out = torch.empty(200_000)
    result = noise.sample_(out, torch.Generator().manual_seed(1))
    assert result.data_ptr() == out.data_ptr()
    assert abs(float(out.mean())) < 0.003 and float(out.std()) == pytest.approx(0.3, rel=0.01)


@pytest.mark.parametrize("sigma", [0, -0.1, float("nan"), float("inf"), "0.2"])
def test_bad_sigma(sigma):
    with pytest.raises(InvalidArgumentError, match="sigma"):
        GaussianNoise(sigma)
