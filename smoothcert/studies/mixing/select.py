"""Choosing a mixture's settings on held-out examples: the fixed α and the adaptive (γ bias, α range) to report.

Bai et al. treat the mixing weight's range and the reparameterization as hyperparameters. Choosing them on the
test inputs and then reporting test accuracy overstates the mixture, so ``smoothcert mix select`` chooses from an
evaluation on the validation split (``mix train --validation-size``), and the test evaluation then measures only
what was chosen.

The rule, the same for the fixed-α sweep and for the adaptive mixtures, so that the two are compared at the same
clean-accuracy budget: with c_g and c_h the clean accuracies of the standard and the robust model on the
validation inputs, a candidate qualifies when its clean accuracy is at least c_h + keep·(c_g − c_h) (it keeps at
least the share ``keep`` of the clean accuracy that the robust model gives up); among those, the highest robust
accuracy at the chosen ε wins, ties going to the higher clean accuracy and then to the earlier candidate. When
none qualifies, the most accurate candidate is taken, and the choice says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ...errors import InvalidArgumentError
from ...validate import check_real


@dataclass(frozen=True)
class Choice:
    """One chosen model: its ``model`` name in the results, clean and robust accuracy on the validation inputs,
    and whether it met the clean-accuracy budget (``qualified``)."""

    model: str
    clean: float
    robust: float
    qualified: bool

    def to_dict(self) -> dict:
        return asdict(self)


def clean_budget(standard_clean: float, robust_clean: float, keep: float) -> float:
    """c_h + keep·(c_g − c_h), the least clean accuracy a candidate must keep (c_h when c_g ≤ c_h)."""
    keep = check_real("keep", keep, low=0.0, high=1.0)
    return robust_clean + keep * max(0.0, standard_clean - robust_clean)


def choose(rows: Sequence[dict], kind: str, eps: float, threshold: float) -> Choice:
    """The candidate of ``kind`` (``fixed`` or ``adaptive``) that the rule picks from evaluation ``rows`` (one per
    model and ε, as :func:`~smoothcert.studies.mixing.read_eval_rows` gives them), robust accuracy read at ``eps``.
    """
    candidates = [r for r in rows if r["kind"] == kind and float(r["eps"]) == float(eps)]
    if not candidates:
        raise InvalidArgumentError(f"the evaluation has no {kind} model at ε = {eps:g} to choose from")
    order = range(len(candidates))  # positions, not rows: rows hold arrays, which do not compare
    qualified = [i for i in order if candidates[i]["clean_accuracy"] >= threshold]
    if qualified:
        i = max(qualified, key=lambda i: (candidates[i]["robust_accuracy"], candidates[i]["clean_accuracy"], -i))
    else:
        i = max(order, key=lambda i: (candidates[i]["clean_accuracy"], candidates[i]["robust_accuracy"], -i))
    best = candidates[i]
    return Choice(best["model"], float(best["clean_accuracy"]), float(best["robust_accuracy"]), bool(qualified))


def base_clean(rows: Sequence[dict], kind: str) -> float:
    """Clean accuracy of the ``standard`` or ``robust`` model in ``rows``."""
    for r in rows:
        if r["kind"] == kind:
            return float(r["clean_accuracy"])
    raise InvalidArgumentError(f"the evaluation has no {kind} model")
