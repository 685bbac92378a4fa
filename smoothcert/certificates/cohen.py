"""Cohen et al.'s rules from counts: select the class, PREDICT, CERTIFY (methods.md §0). Numbers only.

Counts come as [B, K] arrays of outcome ids over noisy copies: the first C columns are the classes, any
further columns outcomes that are no class (⊥ of an abstaining base classifier). Every sample counts towards
n, ⊥ ones included: p̲_A bounds P(f(x + ε) = ĉ_A) among *all* noisy copies, which is what the radius needs.

- selection: ĉ_A = argmax over the C classes of the n0 selection counts (ties: the lower class).
- CERTIFY: p̲_A = one-sided (1 − α) Clopper–Pearson lower bound of the estimation count of ĉ_A among n;
  certified with radius R = noise.certified_radius(p̲_A) if p̲_A ≥ ½, else abstain. The estimation counts
  must be independent of the selection ones (another noise stream), so the count of ĉ_A is binomial.
- PREDICT: the two most frequent classes n_A ≥ n_B; the class if the two-sided binomial test of n_A out
  of n_A + n_B at p = ½ has p-value ≤ α, else abstain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError
from ..noise import Noise
from ..stats import binomial_test_half, clopper_pearson_lower
from ..validate import check_alpha, check_num_classes

#: The prediction of an abstaining certificate.
ABSTAIN = -1


@dataclass(frozen=True)
class Prediction:
    """Result of PREDICT for one input.

    Attributes:
        prediction: class id, or ABSTAIN (−1) when the top two classes are not separated at level α.
        count_top, count_runner_up: counts n_A and n_B of the two most frequent classes.
        n: number of noise samples.
        pvalue: two-sided binomial test p-value of n_A out of n_A + n_B at p = ½.
    """

    prediction: int
    count_top: int
    count_runner_up: int
    n: int
    pvalue: float


@dataclass(frozen=True)
class Certificate:
    """Result of CERTIFY for one input.

    Attributes:
        prediction: class ĉ_A chosen from the n0 selection samples, or ABSTAIN (−1).
        radius: certified radius in input space, in the noise's norm (σ Φ⁻¹(p̲_A) in ℓ2 for Gaussian noise);
            0 when abstaining.
        p_a_lower: one-sided (1 − α) Clopper–Pearson lower bound on P(f(x + ε) = ĉ_A).
        count_top: n_A, the count of ĉ_A among the n estimation samples.
        n0, n: selection and estimation sample sizes.
        guess: ĉ_A even when abstaining (useful for analysis).
    """

    prediction: int
    radius: float
    p_a_lower: float
    count_top: int
    n0: int
    n: int
    guess: int


def _counts(name: str, counts: np.ndarray, num_classes: int) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.dtype.kind not in "iu" or arr.shape[1] < num_classes or (arr.size and arr.min() < 0):
        raise InvalidArgumentError(f"{name} must be non-negative integer counts [B, K >= {num_classes}], got "
                                   f"dtype {arr.dtype}, shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def select_class(selection: np.ndarray, num_classes: int) -> np.ndarray:
    """ĉ_A [B]: the most frequent class among the selection counts [B, K ≥ C] (ties: the lower class)."""
    return _counts("selection counts", selection, check_num_classes(num_classes))[:, :num_classes].argmax(axis=1)


@dataclass(frozen=True)
class CertifyCounts:
    """CERTIFY of B inputs from counts: every field an array [B].

    Attributes mirror :class:`Certificate`; ``certified`` is p̲_A ≥ ½.
    """

    prediction: np.ndarray
    radius: np.ndarray
    p_a_lower: np.ndarray
    count_top: np.ndarray
    n0: np.ndarray
    n: np.ndarray
    guess: np.ndarray
    certified: np.ndarray

    def certificates(self) -> list[Certificate]:
        """One :class:`Certificate` per input, in plain Python numbers."""
        return [Certificate(int(self.prediction[i]), float(self.radius[i]), float(self.p_a_lower[i]),
                            int(self.count_top[i]), int(self.n0[i]), int(self.n[i]), int(self.guess[i]))
                for i in range(len(self.guess))]


def certify_counts(selection: np.ndarray, estimation: np.ndarray, alpha: float, noise: Noise,
                   num_classes: int) -> CertifyCounts:
    """CERTIFY from selection counts [B, K] (n0 samples each) and independent estimation counts [B, K].

    n0 and n are each row's total over all K outcomes (⊥ included), so rows may differ in size. With
    probability ≥ 1 − α over the estimation samples, a certified ĉ_A has P(f(x + ε) = ĉ_A) ≥ p̲_A, and the
    smoothed classifier is ĉ_A on the ball of the returned radius (Cohen et al. 2019, Theorem 1).
    """
    alpha = check_alpha(alpha)
    selection = _counts("selection counts", selection, num_classes)
    estimation = _counts("estimation counts", estimation, num_classes)
    if selection.shape != estimation.shape:
        raise InvalidArgumentError(f"selection counts {selection.shape} and estimation counts {estimation.shape} "
                                   "must have the same shape")
    n0, n = selection.sum(axis=1), estimation.sum(axis=1)
    if len(n) and (n.min() < 1 or n0.min() < 1):
        raise InvalidArgumentError("every input needs at least one selection and one estimation sample")
    guess = select_class(selection, num_classes)
    count_top = estimation[np.arange(len(guess)), guess]
    p_a_lower = clopper_pearson_lower(count_top, n, alpha) if len(n) else np.zeros(0)
    certified = p_a_lower >= 0.5
    radius = np.where(certified, noise.certified_radius(p_a_lower), 0.0)
    return CertifyCounts(np.where(certified, guess, ABSTAIN), radius, p_a_lower, count_top, n0, n, guess, certified)


def largest_radius(n: int, alpha: float, noise: Noise) -> float:
    """The largest radius CERTIFY can issue with ``n`` estimation samples: all ``n`` on ĉ_A, so p̲_A is the
    Clopper–Pearson bound α^{1/n}; for Gaussian noise σ·Φ⁻¹(α^{1/n}) (3.81σ at n = 100,000, α = 0.001). No
    certified-accuracy curve of such a run reaches past it."""
    n = np.asarray([n])
    return float(noise.certified_radius(clopper_pearson_lower(n, n, check_alpha(alpha)))[0])


@dataclass(frozen=True)
class PredictCounts:
    """PREDICT of B inputs from counts: every field an array [B]; attributes mirror :class:`Prediction`."""

    prediction: np.ndarray
    count_top: np.ndarray
    count_runner_up: np.ndarray
    n: np.ndarray
    pvalue: np.ndarray
    top: np.ndarray

    def predictions(self) -> list[Prediction]:
        """One :class:`Prediction` per input, in plain Python numbers."""
        return [Prediction(int(self.prediction[i]), int(self.count_top[i]), int(self.count_runner_up[i]),
                           int(self.n[i]), float(self.pvalue[i])) for i in range(len(self.top))]


def predict_counts(counts: np.ndarray, alpha: float, num_classes: int) -> PredictCounts:
    """PREDICT from counts [B, K]: the top class where the binomial test separates it from the runner-up.

    The probability of returning a class other than the smoothed classifier's is at most α (Cohen et al.
    2019, Theorem 2): given n_A + n_B, n_A is binomial with p = p_A/(p_A + p_B), which is ½ at worst. ``top``
    is the plurality class (the plug-in majority vote, never abstaining); ``n`` counts every sample.
    """
    alpha = check_alpha(alpha)
    counts = _counts("counts", counts, check_num_classes(num_classes))
    classes = counts[:, :num_classes]
    top2 = np.argsort(-classes, axis=1, kind="stable")[:, :2]  # ties go to the lower class
    n_a, n_b = np.take_along_axis(classes, top2, axis=1).T
    pvalue = binomial_test_half(n_a, n_a + n_b)  # equals scipy.stats.binomtest(n_a, n_a + n_b, ½).pvalue
    return PredictCounts(np.where(pvalue <= alpha, top2[:, 0], ABSTAIN), n_a, n_b, counts.sum(axis=1), pvalue,
                         top2[:, 0])
