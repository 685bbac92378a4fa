"""Adaptive smoothing (Bai et al. 2024; docs/mixing.md): settings chosen on held-out examples, three seeds, full
AutoAttack on every test input, and the certificates of the mixture with a smoothed noise-trained model.

Two recipes, one pipeline (:class:`Study`): ``mixing-digits`` (scikit-learn's 8×8 digits, 360 test images) and
``mixing-mnist`` (the 2,000 MNIST test images). Per seed S ∈ {0, 1, 2}, five ``smoothcert mix`` commands in
``seed_S``:

1. ``mix train --validation-size V``: the standard LeNet, the robust one (PGD-ℓ∞ training), the noise-trained one
   (σ = 0.25, the model the certificates smooth) and the mixing network, all on the training images less V held
   out. On MNIST the robust model is trained at ε = 0.4 rather than the usual 0.3, because the mixture is only
   worth studying when the robust model costs clean accuracy visibly: with seed 0, PGD training at ε = 0.3 cost
   0.15 points on the 2,000 test images (0.985 → 0.9835), at ε = 0.4 1.8 points (→ 0.967).
2. ``mix eval --split validation``: every candidate (the fixed-α sweep, and adaptive mixtures over γ biases
   −1, 0, 1 × α ranges (0, 1), (0.2, 1), (0.4, 1), (0.6, 1)) under PGD + APGD on the V held-out images.
3. ``mix select``: the fixed α and the adaptive setting, by one rule (:mod:`smoothcert.studies.mixing.select`).
4. ``mix eval --selection`` on every test image: the base models, the fixed-α sweep and the chosen adaptive
   mixture under PGD + APGD, then, on the four models the table reports (both base models, the chosen fixed α
   and the chosen adaptive mixture), AutoAttack's ensemble (APGD-CE, APGD-T towards 9 classes, 100 iterations
   each, and Square with 5,000 queries; :mod:`smoothcert.attacks.autoattack`) at the largest ε.
5. ``mix certify``: the smoothed noise-trained model's votes (σ = 0.25, n0 = 100, n = 10,000) and the mixture's
   certified accuracy against α (simultaneous Clopper–Pearson bounds, α_conf = 0.001).

Every number is the mean over the seeds with its 95% interval by bootstrap over the test inputs and the seeds
(the chosen settings may differ between seeds: each seed's own choice is what is resampled). Run times per seed
(MNIST, 2 cores of an AMD EPYC with AVX2 only, seed 0): training about 6 min, the validation evaluation about
33 min, the test evaluation under PGD + APGD 14 min; AutoAttack on the first 200 test images took 88 s for the
robust model and 106 s for the mixture at α = 0.6, so about 1 h for the four models on all 2,000; about 2 h per
seed and 6 h for the recipe with the certification.
On 2 cores of an Intel Xeon with AMX, seed 0's MNIST training took 12 min.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.intervals import accuracy, seed_input_bootstrap
from .recipe import Output, Recipe, Settings, Step

SEEDS = (0, 1, 2)
#: Bai et al.'s headline numbers (ℓ∞ ε = 8/255, AutoAttack; methods.md §5): data set → (clean %, robust %).
PUBLISHED = {"CIFAR-10": (95.23, 68.06), "CIFAR-100": (85.21, 38.72)}
ROLES = ("standard", "robust", "fixed", "adaptive")
CANDIDATES = ["--gamma-biases", "-1,0,1", "--mixing-alpha-range", "0,1;0.2,1;0.4,1;0.6,1"]
#: The certificates: smoothing σ, samples, failure probability; the mixing weights α and radii r of the table.
CERTIFY_SIGMA, CERTIFY_N, CERTIFY_ALPHA = 0.25, 10_000, 0.001
CERTIFY_ALPHAS = (0.6, 0.7, 0.8, 0.9, 1.0)
CERTIFY_RADII = (0.0, 0.1, 0.25, 0.5)
SMALL_TRAIN = ["--eps", "0.2", "--standard-epochs", "2", "--robust-epochs", "1", "--adv-steps", "2",
               "--noise-epochs", "1", "--mixing-epochs", "1", "--mixing-max", "96", "--mixing-steps", "1,2",
               "--validation-size", "60"]
SMALL_CANDIDATES = ["--mixing-alphas", "0.5,0.8", "--gamma-biases", "-1,1", "--mixing-alpha-range", "0,1;0.6,1"]


@dataclass(frozen=True)
class Study:
    """One data set's settings of the pipeline.

    Attributes:
        dataset: ``digits`` or ``mnist``.
        label: the data set's name in tables and figures.
        eps: the ℓ∞ attack radii (pixels in [0, 1]); AutoAttack runs at the last.
        train: ``mix train``'s options, less ``--validation-size`` (that is ``validation``).
        alphas: the fixed mixing weights α of the sweep.
        validation: training images held out (``mix train --validation-size``), all evaluated for the choice.
        test: test images evaluated, attacked by AutoAttack and certified (all of them).
        summary: one line for ``smoothcert results list``.
    """

    dataset: str
    label: str
    eps: tuple[float, ...]
    train: tuple[str, ...]
    alphas: str
    validation: int
    test: int
    summary: str

    @property
    def name(self) -> str:
        return f"mixing-{self.dataset}"


STUDIES = {
    "digits": Study("digits", "digits", (0.05, 0.1, 0.2),
                    ("--eps", "0.2", "--standard-epochs", "40", "--robust-epochs", "30", "--adv-steps", "10",
                     "--eps-warmup", "3", "--noise-sigma", str(CERTIFY_SIGMA), "--noise-epochs", "40",
                     "--mixing-epochs", "10"),
                    "0.3,0.5,0.6,0.7,0.8,0.9", 300, 360,
                    "Bai et al.'s adaptive mixture on digits: settings chosen on 300 held-out images, 3 seeds, "
                    "AutoAttack and certificates on the 360 test images"),
    "mnist": Study("mnist", "MNIST", (0.1, 0.2, 0.3, 0.4),
                   ("--eps", "0.4", "--standard-epochs", "10", "--robust-epochs", "20", "--adv-steps", "10",
                    "--eps-warmup", "5", "--noise-sigma", str(CERTIFY_SIGMA), "--noise-epochs", "10",
                    "--mixing-epochs", "5", "--mixing-max", "4000"),
                   "0.5,0.6,0.7,0.8,0.9", 1000, 2000,
                   "Bai et al.'s adaptive mixture on MNIST: settings chosen on 1,000 held-out images, 3 seeds, "
                   "AutoAttack and certificates on 2,000 test images"),
}


def _eps(study: Study, settings: Settings) -> tuple[float, ...]:
    return (0.1, 0.2) if settings.small else study.eps


def _steps(study: Study, out: Path, settings: Settings) -> list[Step]:
    eps = ["--eps", ",".join(f"{e:g}" for e in _eps(study, settings))]
    data = settings.data_options(study.dataset)
    if settings.small:
        train, candidates = SMALL_TRAIN, SMALL_CANDIDATES
        val, test = ["--max", "60", "--steps", "2"], ["--max", "40", "--steps", "2"]
        certify = ["--n", "200", "--max", "40", "--batch-size", "256"]
    else:
        train = [*study.train, "--validation-size", str(study.validation)]
        candidates = ["--mixing-alphas", study.alphas, *CANDIDATES]
        val = ["--max", str(study.validation)]
        test = ["--max", str(study.test), "--autoattack-max", str(study.test), "--autoattack-alphas", "selection"]
        certify = ["--n", str(CERTIFY_N), "--max", str(study.test)]
    certify += ["--sigma", f"{CERTIFY_SIGMA:g}", "--n0", "100", "--failure-prob", f"{CERTIFY_ALPHA:g}",
                "--mixing-alphas", ",".join(f"{a:g}" for a in CERTIFY_ALPHAS),
                "--radii", ",".join(f"{r:g}" for r in CERTIFY_RADII)]
    quiet = ["--quiet"]  # --device auto, as every recipe: CUDA where there is one
    read = data[2:]  # `mix eval` and `mix certify` read the data set's name from the run
    steps = []
    for s in SEEDS:
        run = out / f"seed_{s}"
        last = run / ("test_autoattack.json" if not settings.small else "test.json")
        steps += [
            Step(f"seed_{s}/train", ("mix", "train", *data, *train, "--seed", str(s), "--out", str(run), *quiet),
                 done=run / "train.json"),
            Step(f"seed_{s}/validation", ("mix", "eval", "--run", str(run), *read, "--split", "validation",
                                          "--name", "validation", *eps, *candidates, *val, "--seed", str(s),
                                          *quiet),
                 done=run / "validation.json", resume_marker=run / "validation.tsv"),
            Step(f"seed_{s}/select", ("mix", "select", "--run", str(run)), done=run / "selection.json"),
            Step(f"seed_{s}/test", ("mix", "eval", "--run", str(run), *read, "--selection",
                                    str(run / "selection.json"), "--name", "test", *eps, *candidates[:2], *test,
                                    "--seed", str(s), *quiet),
                 done=last, resume_marker=run / "test.tsv"),
            Step(f"seed_{s}/certify", ("mix", "certify", "--run", str(run), *read, *certify, "--seed", str(s),
                                       *quiet),
                 done=run / "certify.json", resume_marker=run / "certify.tsv")]
    return steps


def _selection(run: Path) -> dict:
    return json.loads((run / "selection.json").read_text(encoding="utf-8"))["selection"]


def _outcomes(run: Path, name: str) -> dict[tuple[str, float], tuple[np.ndarray, np.ndarray]]:
    """{(model, ε): (clean [N], robust [N] per-input outcomes)} of the evaluation ``run/<name>.tsv``."""
    from ..studies.mixing import read_eval_rows

    path = run / f"{name}.tsv"
    return {(r["model"], float(r["eps"])): (r["clean_correct"], r["robust_correct"])
            for r in read_eval_rows(path)} if path.is_file() else {}


def _models(run: Path) -> dict[str, str]:
    """Role → the model name in this seed's results."""
    chosen = _selection(run)
    return {"standard": "standard", "robust": "robust", "fixed": chosen["fixed"]["model"],
            "adaptive": chosen["adaptive"]["model"]}


def _columns(study: Study, out: Path, settings: Settings) -> list[tuple[str, str, float, int]]:
    """(header, file, ε, 0 clean | 1 robust) of every table column."""
    eps = _eps(study, settings)
    cols = [("clean", "test", eps[0], 0), *[(f"ε = {e:g}", "test", e, 1) for e in eps]]
    if (out / f"seed_{SEEDS[0]}" / "test_autoattack.tsv").is_file():
        cols.append((f"ε = {eps[-1]:g}, AutoAttack", "test_autoattack", eps[-1], 1))
    return cols


Seeds = list[tuple[dict[str, str], dict[str, dict]]]


def _load(out: Path, columns: list[tuple[str, str, float, int]]) -> Seeds:
    """Per seed: role → model name, and each evaluation file's outcomes (every file read once)."""
    files = dict.fromkeys(c[1] for c in columns)
    return [(_models(out / f"seed_{s}"), {name: _outcomes(out / f"seed_{s}", name) for name in files})
            for s in SEEDS]


def _values(seeds: Seeds, role: str, column: tuple[str, str, float, int]) -> list[np.ndarray]:
    """One [N] array of 0/1 outcomes per seed: ``role``'s model in ``column``."""
    _, name, eps, which = column
    return [outcomes[name][models[role], eps][which].astype(np.float64) for models, outcomes in seeds]


def _mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def _pct(e) -> str:
    return f"{100 * e.value:.1f} [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def table(study: Study, out: Path, settings: Settings) -> str:
    """Clean and robust accuracy (%) of the four roles, mean over seeds [95% interval], the adaptive − fixed
    difference paired on the inputs, and the paper's headline beside them."""
    columns = _columns(study, out, settings)
    seeds = _load(out, columns)
    lines = ["| model | chosen per seed | " + " | ".join(c[0] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for role in ROLES:
        chosen = "; ".join(dict.fromkeys(models[role] for models, _ in seeds))
        cells = [_pct(seed_input_bootstrap(_values(seeds, role, c), accuracy)) for c in columns]
        lines.append(f"| {role} | {chosen} | " + " | ".join(cells) + " |")
    diffs = [seed_input_bootstrap([a - f for a, f in zip(_values(seeds, "adaptive", c),
                                                         _values(seeds, "fixed", c), strict=True)], _mean)
             for c in columns]
    lines.append("| adaptive − fixed (paired) | | " + " | ".join(
        f"{100 * e.value:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}]" for e in diffs) + " |")
    autoattack = columns[-1][1] == "test_autoattack"
    for name, (clean, robust) in PUBLISHED.items():
        cells = [f"{clean:.2f}", *["–"] * (len(columns) - 1)]
        if autoattack:
            cells[-1] = f"{robust:.2f}"
        lines.append(f"| paper, {name}, adaptive (ε = 8/255, AutoAttack) | | " + " | ".join(cells) + " |")
    n = len(_values(seeds, "standard", columns[0])[0])
    chosen = _selection(out / f"seed_{SEEDS[0]}")
    manifest = json.loads((out / f"seed_{SEEDS[0]}" / "test.json").read_text(encoding="utf-8"))
    steps = manifest["arguments"]["plan"]["steps"]
    lines += ["", f"smoothcert: accuracy in % on the same {n:,} test inputs, mean over seeds "
              f"{', '.join(map(str, SEEDS))} [95% interval] by bootstrap over inputs and seeds; ε is ℓ∞ with pixels "
              f"in [0, 1]; columns without AutoAttack are the worst case of PGD and APGD ({steps} steps each, and "
              f"on the composite objective for the adaptive mixture). \"fixed\" and \"adaptive\" were chosen on "
              f"{chosen['inputs']:,} held-out training images: clean accuracy at least the robust model's plus "
              f"{chosen['keep']:g} of the gap to the standard model's, then the highest robust accuracy at "
              f"ε = {chosen['eps']:g}. Paper: CIFAR-10/100 with ResNets, not comparable in size; only the shape "
              "of the claim (the adaptive mixture above the fixed-α trade-off) is."]
    return "\n".join(lines)


def certified_table(out: Path, settings: Settings) -> str:
    """Certified accuracy (%) of the mixture with the smoothed noise-trained model, per mixing weight α and radius
    r: randomized-smoothing radius from simultaneous Clopper–Pearson bounds, mean over seeds [95% interval]."""
    from ..studies.mixing import mixture_certified, read_mixture_votes

    votes = [read_mixture_votes(out / f"seed_{s}" / "certify.tsv") for s in SEEDS]
    certified = [mixture_certified(v, CERTIFY_ALPHAS, CERTIFY_RADII, CERTIFY_SIGMA, kind="rs", bounds="cp",
                                   alpha_conf=CERTIFY_ALPHA) for v in votes]  # per seed [A, R, N]
    lines = ["| α | " + " | ".join(f"r = {r:g}" for r in CERTIFY_RADII) + " |", "|---|" + "---|" * len(CERTIFY_RADII)]
    for i, a in enumerate(CERTIFY_ALPHAS):
        cells = [_pct(seed_input_bootstrap([c[i, k].astype(np.float64) for c in certified], accuracy))
                 for k in range(len(CERTIFY_RADII))]
        lines.append(f"| {a:g} | " + " | ".join(cells) + " |")
    manifest = json.loads((out / f"seed_{SEEDS[0]}" / "certify.json").read_text(encoding="utf-8"))
    n, n0 = manifest["arguments"]["n"], manifest["arguments"]["n0"]
    lines += ["", f"smoothcert: certified accuracy in % of the mixture with the noise-trained model smoothed at "
              f"σ = {CERTIFY_SIGMA:g} (ℓ2), on the same {len(votes[0].idx):,} test inputs, mean over seeds "
              f"{', '.join(map(str, SEEDS))} [95% interval] by bootstrap over inputs and seeds; randomized-smoothing "
              f"radius from simultaneous Clopper–Pearson bounds (n0 = {n0}, n = {n:,}, α_conf = "
              f"{CERTIFY_ALPHA:g}): a certificate, unlike the plug-in frequencies beside it in each run's "
              "`certify.md`."]
    return "\n".join(lines)


def _tabulate(study: Study, out: Path, settings: Settings) -> dict[str, Output]:
    runs = tuple(out / f"seed_{s}" for s in SEEDS)
    figures = f"figures/mixing/{study.dataset}"
    return {"table": Output(table(study, out, settings), runs),
            "certified": Output(certified_table(out, settings), runs),
            "figure_tradeoff": Output(f"![{study.label} trade-off, seed 0]({figures}_tradeoff_seed0.png)", runs[:1],
                                      files=((runs[0] / "tradeoff.png", f"{figures}_tradeoff_seed0.png"),)),
            "figure_certified": Output(f"![{study.label} certified accuracy against α, seed 0]"
                                       f"({figures}_certified_vs_alpha_seed0.png)", runs[:1],
                                       files=((runs[0] / "certified_vs_alpha.png",
                                               f"{figures}_certified_vs_alpha_seed0.png"),))}


def mixing_recipe(dataset: str = "mnist") -> Recipe:
    """The ``mixing-DATASET`` recipe (``digits`` or ``mnist``)."""
    study = STUDIES[dataset]
    return Recipe(name=study.name, summary=study.summary,
                  outputs=("table", "certified", "figure_tradeoff", "figure_certified"),
                  steps=lambda out, settings: _steps(study, out, settings),
                  tabulate=lambda out, settings: _tabulate(study, out, settings),
                  needs_mnist=lambda settings: settings.needs_mnist(dataset),
                  report=lambda out, settings: [out / f"seed_{s}" for s in SEEDS])
