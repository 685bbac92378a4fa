"""Published MNIST numbers the result tables set beside smoothcert's (one place for every recipe).

LeNet trained on the 60,000 training images, certified on the full 10,000 test images with N = 100,000,
α = 0.001 (../shared/docs/methods.md §7, §8).
"""

from __future__ import annotations

#: The radii (ℓ2, pixels in [0, 1]) of the MNIST tables.
RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)

#: Published MNIST numbers (LeNet trained on the 60k training set, the full 10k test set, N = 100,000, α = 0.001):
#: {σ: {method: (certified accuracy % at RADII, or None where not at hand; ACR)}}. Sources: Jeong & Shin 2020
#: (ACR at σ = 1; Gaussian at σ = 0.25, 0.5) and the CAT-RS repository's raw certified-accuracy curves
#: (data/mnist/noise_σ/noise_σ.tsv_acc).
PUBLISHED: dict[float, dict[str, tuple[tuple[float | None, ...] | None, float | None]]] = {
    1.0: {"gaussian": (None, 1.618), "stability": (None, 1.634), "macer": (None, 1.595),
          "consistency": (None, 1.738), "smoothadv": (None, 1.779),
          "catrs": ((93.15, 90.47, 87.23, 83.08, 77.62, 64.04, 47.16, 29.99), 1.831)},
    0.5: {"gaussian": ((99.2, 98.3, 96.9, 94.3, 89.8, 67.8, None, None), 1.558)},
    0.25: {"gaussian": ((99.2, 98.5, 96.7, 93.1, None, None, None, None), 0.911)},
}
