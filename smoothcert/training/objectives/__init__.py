"""Training objectives: what one batch's loss is. The loop (:func:`~smoothcert.training.loop.fit`) does the rest.

A new objective (stability training, SmoothAdv, MACER, consistency, …) is one module here with an
:class:`Objective` subclass, and one line in :data:`OBJECTIVES`.
"""

from .adversarial import AdversarialObjective
from .base import Objective
from .gaussian import GaussianObjective
from .mixing import MixingObjective

#: Objective classes by their ``name`` (the ``"type"`` of their ``to_dict()``).
OBJECTIVES: dict[str, type[Objective]] = {
    "gaussian": GaussianObjective,
    "adversarial": AdversarialObjective,
    "mixing": MixingObjective,
}

__all__ = ["OBJECTIVES", "AdversarialObjective", "GaussianObjective", "MixingObjective", "Objective"]
