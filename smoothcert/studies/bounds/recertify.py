"""Re-certification from saved counts: apply another bound to the count vectors a certify run kept
(:mod:`smoothcert.runs.counts`), without the model, and write a new results file with its manifest.

Bounds (rules in :mod:`smoothcert.certificates`, formulas in docs/bounds.md):

- ``cp``: Cohen's CERTIFY with the one-sided Clopper–Pearson bound, exactly as the run applied it (reproduces
  its TSV; the ``time`` column is 0, nothing is sampled).
- ``top2``: the top-2 radius with Bonferroni bounds on every other class.
- ``cpm``: the top-2 radius with class partitioning (Delattre et al. 2025).
- ``cp`` with ``randomized``: the randomized Clopper–Pearson bound (Voráček 2024). Such certificates are
  randomized: each depends on a uniform variate U (column ``u``, fixed by the seed and the input index) and holds
  with probability ≥ 1 − α over the samples and U together.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...analysis import read_results
from ...certificates.cohen import certify_counts
from ...certificates.cpm import cpm_certificate
from ...certificates.randomized import randomized_certify_counts, uniform_variates
from ...certificates.top2 import top2_bonferroni
from ...document import Document, Paragraph
from ...errors import InvalidArgumentError, ResultsError
from ...noise import noise_from_dict
from ...runs import CERTIFY_COLUMNS, ResultWriter, write_manifest
from ...runs.counts import read_counts
from ...runs.manifest import manifest_path
from ...validate import check_alpha, check_choice, check_seed

#: The bounds ``recertify`` applies.
BOUNDS = ("cp", "top2", "cpm")

#: Columns added to Cohen's by each bound.
EXTRA_COLUMNS = {"cp": (), "top2": ("pB_upper", "groups"), "cpm": ("pB_upper", "groups"), "randomized": ("u",)}


def _read_manifest(run: Path) -> dict:
    path = manifest_path(run)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{run} has no manifest {path}: recertify needs the run's noise and α") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"cannot read manifest {path}: {err}") from None
    for section in ("noise", "counts"):
        if section not in manifest:
            raise ResultsError(f"manifest {path} has no {section!r} section: {run} was not written by a certify "
                               "run that keeps its counts")
    return manifest


def recertify(run: str | Path, bound: str, out: str | Path, *, randomized: bool = False, seed: int = 0,
              alpha: float | None = None, overwrite: bool = False) -> Document:
    """Apply ``bound`` ("cp", "top2", "cpm"; ``randomized`` for randomized Clopper–Pearson) to the counts saved by
    the certify run ``run`` (its TSV) and write one row per input of it to ``out``, with a manifest.

    α defaults to the run's. The rows keep the run's order, idx and labels; ``time`` is 0. Returns a short
    report: certified accuracy of the new file at a few radii beside the run's, and ACR.
    """
    run, out = Path(run), Path(out)
    bound = check_choice("bound", bound, BOUNDS)
    if randomized and bound != "cp":
        raise InvalidArgumentError("--randomized applies to the Clopper–Pearson bound (--bound cp) only")
    seed = check_seed(seed)
    if out.resolve() == run.resolve():
        raise InvalidArgumentError(f"--out {out} is the run itself; write the new results to another file")
    manifest = _read_manifest(run)
    alpha = check_alpha(manifest.get("arguments", {}).get("alpha") if alpha is None else alpha)
    noise = noise_from_dict(manifest["noise"])
    num_classes = int(manifest["counts"]["num_classes"])
    rows = read_results(run)
    saved = read_counts(run)
    if "selection" not in saved or "estimation" not in saved:
        raise ResultsError(f"{run}'s counts hold no selection and estimation counts (a predict run?)")
    where = {int(i): j for j, i in enumerate(saved["idx"])}
    missing = [int(i) for i in rows.idx if int(i) not in where]
    if missing:
        raise ResultsError(f"{len(missing)} rows of {run} have no saved counts (first idx {missing[0]}); resume the "
                           "run to complete them, or certify again")
    take = np.array([where[int(i)] for i in rows.idx], dtype=np.int64)
    selection, estimation = saved["selection"][take], saved["estimation"][take]
    extra: dict[str, np.ndarray] = {}
    if bound == "cp" and randomized:
        u = uniform_variates(seed, rows.idx)
        result = randomized_certify_counts(selection, estimation, alpha, noise, num_classes, u)
        extra["u"] = u
    elif bound == "cp":
        result = certify_counts(selection, estimation, alpha, noise, num_classes)
    else:
        result = (top2_bonferroni if bound == "top2" else cpm_certificate)(selection, estimation, alpha, noise,
                                                                           num_classes)
        extra.update(pB_upper=result.p_b_upper, groups=result.groups)
    columns = CERTIFY_COLUMNS + EXTRA_COLUMNS["randomized" if randomized else bound]
    arguments = {"source": str(run), "bound": bound, "randomized": randomized, "alpha": alpha,
                 **({"seed": seed} if randomized else {})}
    with ResultWriter(out, columns, overwrite=overwrite) as writer:
        write_manifest(out, arguments, status="running", noise=noise.to_dict(), source_arguments=manifest.get(
            "arguments", {}))
        for j in range(len(rows)):
            row = {"idx": int(rows.idx[j]), "label": int(rows.label[j]), "predict": int(result.prediction[j]),
                   "radius": float(result.radius[j]), "time": 0.0, "pA_lower": float(result.p_a_lower[j]),
                   "n0": int(result.n0[j]), "n": int(result.n[j]), "count_top": int(result.count_top[j]),
                   "norm": noise.norm}
            row["correct"] = int(row["predict"] == row["label"])
            for name, values in extra.items():
                row[name] = values[j].item()
            writer.write(row)
    write_manifest(out, arguments, status="complete", noise=noise.to_dict(),
                   source_arguments=manifest.get("arguments", {}),
                   **({"randomized": "certificates depend on the uniform variate in column u"} if randomized else {}))
    return recertify_report(run, out, bound, randomized)


def recertify_report(run: Path, out: Path, bound: str, randomized: bool) -> Document:
    """Certified accuracy and ACR of the run and of its re-certification, side by side."""
    from ...analysis import certified_accuracy_data

    label = f"{bound}{' randomized' if randomized else ''}"
    runs = {f"{run.stem} (run)": read_results(run), f"{out.stem} ({label})": read_results(out)}
    table = certified_accuracy_data(runs, [0.0, 0.25, 0.5, 0.75, 1.0], acr=True, abstain=True)
    notes = [Paragraph(f"Re-certified {run} with bound {label} → {out} (manifest {manifest_path(out).name}).")]
    if randomized:
        notes.append(Paragraph("These certificates are randomized: each holds with probability ≥ 1 − α over the "
                               "noise samples and the uniform variate u of its row together."))
    return Document("Re-certification", [*notes, table])
