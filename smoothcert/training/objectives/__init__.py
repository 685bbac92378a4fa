"""Training objectives: what one batch's loss is. The loop (:func:`~smoothcert.training.loop.fit`) does the rest.

Modules: ``base`` (the protocol), ``gaussian`` (noise augmentation), ``stability`` (Li et al. 2019),
``consistency`` (Jeong & Shin 2020), ``macer`` (Zhai et al. 2020), ``smoothadv`` (Salman et al. 2019),
``smoothmix`` (Jeong et al. 2021), ``catrs`` (Jeong et al. 2023), ``adversarial`` (PGD training), ``mixing``
(adaptive smoothing's mixing network), ``noisy`` (shared helpers).
A new objective is one module here with an :class:`Objective` subclass, and one line in :data:`OBJECTIVES`
(and in :data:`NOISE_OBJECTIVES` when its first argument is the training noise). docs/training.md has the formulas.
"""

from ...errors import InvalidArgumentError
from ...noise import Noise
from .adversarial import AdversarialObjective
from .base import Objective
from .catrs import CatRsObjective
from .consistency import ConsistencyObjective
from .gaussian import GaussianObjective
from .macer import MacerObjective
from .mixing import MixingObjective
from .smoothadv import SmoothAdvObjective
from .smoothmix import SmoothMixObjective
from .stability import StabilityObjective

#: Objective classes by their ``name`` (the ``"type"`` of their ``to_dict()``).
OBJECTIVES: dict[str, type[Objective]] = {
    "gaussian": GaussianObjective,
    "adversarial": AdversarialObjective,
    "mixing": MixingObjective,
    "stability": StabilityObjective,
    "consistency": ConsistencyObjective,
    "macer": MacerObjective,
    "smoothadv": SmoothAdvObjective,
    "smoothmix": SmoothMixObjective,
    "catrs": CatRsObjective,
}

#: The objectives of base classifiers for smoothing: built as ``cls(noise, **options)``.
NOISE_OBJECTIVES = ("gaussian", "stability", "consistency", "macer", "smoothadv", "smoothmix", "catrs")


#: Each objective's command-line options (as parameter names: ``--consistency-lambda`` is
#: ``consistency_lambda``) and the keyword argument of its class that each one sets.
OPTION_FLAGS: dict[str, dict[str, str]] = {
    "gaussian": {},
    "stability": {"stability_lambda": "lbd"},
    "consistency": {"num_noise_vec": "m", "consistency_lambda": "lbd", "consistency_eta": "eta"},
    "macer": {"num_noise_vec": "m", "macer_lambda": "lbd", "macer_gamma": "gamma", "macer_beta": "beta",
              "macer_deferred": "deferred"},
    "smoothadv": {"num_noise_vec": "m", "smoothadv_eps": "eps", "smoothadv_steps": "steps",
                  "smoothadv_warmup": "warmup"},
    "smoothmix": {"num_noise_vec": "m", "smoothmix_eta": "eta", "smoothmix_steps": "steps",
                  "smoothmix_alpha": "alpha", "smoothmix_mix_step": "mix_step", "smoothmix_eps": "eps",
                  "smoothmix_warmup": "warmup"},
    "catrs": {"num_noise_vec": "m", "catrs_eps": "eps", "catrs_steps": "steps", "catrs_lambda": "lbd"},
}


def objective_options(method: str, flags: dict) -> dict:
    """The keyword arguments of ``method``'s objective from command-line options ``flags`` ({parameter name:
    value}; None = not given). Raises InvalidArgumentError, in one line, for an option of another objective."""
    if method not in OPTION_FLAGS:
        raise InvalidArgumentError(f"unknown objective {method!r}; choose one of {', '.join(NOISE_OBJECTIVES)}")
    own = OPTION_FLAGS[method]
    given = {name: value for name, value in flags.items() if value is not None}
    foreign = [name for name in given if name not in own]
    if foreign:
        users = [m for m, table in OPTION_FLAGS.items() if foreign[0] in table]
        flag = "--" + foreign[0].replace("_", "-")
        raise InvalidArgumentError(f"{flag} is an option of --objective {'/'.join(users) or '(none)'}, not of "
                                   f"--objective {method}")
    return {own[name]: value for name, value in given.items()}


def make_objective(method: str, noise: Noise | None, options: dict | None = None) -> Objective:
    """The objective ``method`` (one of :data:`NOISE_OBJECTIVES`) with training noise ``noise`` and its own
    ``options`` (keyword arguments of its class, e.g. ``{"lbd": 10, "m": 2}`` for consistency).

    Raises InvalidArgumentError for an unknown method or an option the method does not have.
    """
    if method not in NOISE_OBJECTIVES:
        raise InvalidArgumentError(f"unknown objective {method!r}; choose one of {', '.join(NOISE_OBJECTIVES)}")
    options = dict(options or {})
    cls = OBJECTIVES[method]
    if method == "gaussian":
        if options:
            raise InvalidArgumentError(f"the gaussian objective has no options, got {sorted(options)}")
        return GaussianObjective(noise)
    known = set(cls.__dataclass_fields__) - {"noise"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidArgumentError(f"the {method} objective has no option {', '.join(unknown)}; "
                                   f"its options: {', '.join(sorted(known))}")
    return cls(noise, **options)

__all__ = [
    "NOISE_OBJECTIVES",
    "OBJECTIVES",
    "OPTION_FLAGS",
    "AdversarialObjective",
    "CatRsObjective",
    "ConsistencyObjective",
    "GaussianObjective",
    "MacerObjective",
    "MixingObjective",
    "Objective",
    "SmoothAdvObjective",
    "SmoothMixObjective",
    "StabilityObjective",
    "make_objective",
    "objective_options",
]
