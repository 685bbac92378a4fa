"""Uncertainty-aware CERTIFY of a batch: one select-then-estimate pass, the certificates for every τ.

The rule is :func:`smoothcert.certificates.uncertainty.uncertainty_certificates` (counts only); this module
samples with :meth:`smoothcert.smooth.Smooth.sample` and splits the counts by τ with the outcome map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ...certificates.uncertainty import UncertaintyCertificates, uncertainty_certificates
from ...errors import InvalidArgumentError
from ...smooth import Smooth
from ...uncertainty.measures import MEASURES
from ...uncertainty.outcome import UncertaintyOutcome
from ...validate import check_alpha, check_choice, check_real


def check_tau(tau: object, measure: str, name: str = "tau") -> float:
    """τ as a float if it is a usable threshold for ``measure``, else raise naming ``name`` (e.g. ``--tau``).

    Every measure of :data:`~smoothcert.uncertainty.measures.MEASURES` takes values u ≥ 0 (their ranges are in
    that module's docstring), so τ < 0 would turn every sample into ⊥ (u > τ always): refused, as is NaN.
    ``inf`` (never ⊥) and τ at or above the measure's largest value (never ⊥ either) are allowed.
    """
    check_choice("uncertainty measure", measure, MEASURES)
    value = check_real(name, tau, finite=False)
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0 (or inf) for {measure}: its u is >= 0, so tau = {value:g} "
                                   "would make every sample uncertain")
    return value


def outcome_map_of(smooth: Smooth) -> UncertaintyOutcome:
    """The :class:`~smoothcert.uncertainty.outcome.UncertaintyOutcome` of ``smooth``, or raise."""
    om = smooth.outcome_map
    if not isinstance(om, UncertaintyOutcome):
        raise InvalidArgumentError("uncertainty-aware certification needs Smooth(..., outcome_map="
                                   f"UncertaintyOutcome(...)), got {type(om).__name__}")
    if om.num_classes != smooth.num_classes:
        raise InvalidArgumentError(f"the outcome map has {om.num_classes} classes, Smooth has {smooth.num_classes}")
    for tau in om.taus:
        check_tau(tau, om.measure)
    return om


def certify_uncertainty(
    smooth: Smooth,
    x: torch.Tensor,
    n0: int,
    n: int,
    alpha: float,
    *,
    indices: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[UncertaintyCertificates]:
    """Certify each input of x [B, *input_shape] with the uncertainty-aware base classifier of ``smooth``.

    ``smooth.outcome_map`` must be an ``UncertaintyOutcome`` (with τ ≥ 0: :func:`check_tau`); one selection
    pass (n0 samples) and one estimation pass (n samples) give the certificates for every τ of the map.
    ``indices`` (default 0 … B−1) seed each input's noise exactly as ``Smooth.certify_batch`` does, so at
    τ = ∞ the Cohen radius here equals ``certify_batch``'s.

    Returns:
        one :class:`UncertaintyCertificates` per τ of the outcome map (each certificate valid on its own).
    """
    om = outcome_map_of(smooth)
    alpha = check_alpha(alpha)
    counts = smooth.sample(x, n0, n, range(len(x)) if indices is None else indices, progress=progress)
    out = []
    for k in range(len(om.taus)):
        sel_c, sel_u = om.split(counts.selection, k)
        est_c, est_u = om.split(counts.estimation, k)
        if sel_u is None:  # C + 1 layout: the ⊥ counts are the last column
            sel_u, est_u = counts.selection[:, om.num_classes], counts.estimation[:, om.num_classes]
        out.append(uncertainty_certificates(sel_c, sel_u, est_c, est_u, alpha, smooth.noise))
    return out
