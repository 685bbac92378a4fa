"""Out-of-distribution detection with smoothed uncertainty: OOD sets that can be made offline, scores, AUROC.

OOD sets, at the data's resolution and in [0, 1] like the data (bright strokes on dark ground for letters):

- ``letters``: A–Z and a–z rendered with Pillow's bundled font (random size, offset) at 4× the resolution,
  then box-filtered down, as the 8×8 digits were made from larger bitmaps;
- ``photos``: grey-level patches of scikit-learn's two bundled photographs (``load_sample_images``), random
  position and size, box-filtered down;
- ``uniform``: independent U[0, 1] pixels.

Scores (higher = more likely OOD), one per uncertainty measure: ``clean`` (the base model's u on the clean
input), ``mean_u`` (mean u over m noisy copies) and ``frac_uncertain`` (fraction of copies with u > τ, the
smoothed ⊥ probability estimate). AUROC uses ``sklearn.metrics.roc_auc_score`` with OOD as the positive class.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...document import Table
from ...engine import Engine
from ...errors import InvalidArgumentError, ResultsError
from ...noise import Noise
from ...progress import progress_bar
from ...runs import ResultWriter, RunOptions, check_resumable, earlier_runs, write_manifest
from ...runs.fingerprint import data_fingerprint, model_fingerprint
from ...uncertainty.measures import check_measure, check_members, class_and_uncertainty
from ...uncertainty.scores import SCORES, noisy_uncertainty
from ...validate import check_choice, check_count
from .certify import check_tau

OOD_SETS = ("letters", "photos", "uniform")
SCORE_KINDS = ("clean", "mean_u", "frac_uncertain")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_OVERSAMPLE = 4


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or input_shape[0] not in (1, 3) or min(input_shape[1:]) < 4:
        raise InvalidArgumentError(f"OOD images need an input shape (1 or 3, H, W) with H, W >= 4, got "
                                   f"{tuple(input_shape)}")
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _to_tensor(images: list[np.ndarray], channels: int) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images).astype(np.float32)).unsqueeze(1)
    return x.expand(-1, channels, -1, -1).contiguous()


def render_letters(input_shape: Sequence[int], count: int, seed: int = 0) -> torch.Tensor:
    """``count`` letter images [count, *input_shape] in [0, 1]: bright glyph, dark ground, max pixel 1."""
    from PIL import Image, ImageDraw, ImageFont

    channels, h, w = _check_shape(input_shape)
    rng = np.random.default_rng(seed)
    big_h, big_w = h * _OVERSAMPLE, w * _OVERSAMPLE
    images = []
    for _ in range(count):
        char = LETTERS[rng.integers(len(LETTERS))]
        size = int(rng.uniform(0.6, 0.95) * big_h)
        try:
            font = ImageFont.load_default(size=size)
        except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font, scaled below
            font = ImageFont.load_default()
        canvas = Image.new("L", (big_w, big_h), 0)
        draw = ImageDraw.Draw(canvas)
        left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
        gw, gh = right - left, bottom - top
        x0 = (big_w - gw) / 2 - left + rng.uniform(-0.1, 0.1) * big_w
        y0 = (big_h - gh) / 2 - top + rng.uniform(-0.1, 0.1) * big_h
        draw.text((x0, y0), char, fill=255, font=font)
        small = np.asarray(canvas.resize((w, h), Image.Resampling.BOX), dtype=np.float64)
        images.append(small / max(small.max(), 1.0))
    return _to_tensor(images, channels)


def photo_patches(input_shape: Sequence[int], count: int, seed: int = 0) -> torch.Tensor:
    """``count`` grey-level patches [count, *input_shape] in [0, 1] of scikit-learn's sample photographs."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    channels, h, w = _check_shape(input_shape)
    photos = [np.asarray(img, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
              for img in load_sample_images().images]
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.uniform(0.1, 0.5) * min(photo.shape))
        top = rng.integers(0, photo.shape[0] - side + 1)
        left = rng.integers(0, photo.shape[1] - side + 1)
        patch = Image.fromarray(photo[top : top + side, left : left + side].astype(np.uint8))
        images.append(np.asarray(patch.resize((w, h), Image.Resampling.BOX), dtype=np.float64) / 255.0)
    return _to_tensor(images, channels)


def uniform_noise_images(input_shape: Sequence[int], count: int, seed: int = 0) -> torch.Tensor:
    """``count`` images [count, *input_shape] of independent U[0, 1] pixels."""
    _check_shape(input_shape)
    g = torch.Generator().manual_seed(int(seed))
    return torch.rand((count, *input_shape), generator=g)


def make_ood_sets(input_shape: Sequence[int], count: int, seed: int = 0,
                  names: Sequence[str] = OOD_SETS) -> dict[str, torch.Tensor]:
    """The named OOD sets, ``count`` images each, shape [count, *input_shape]."""
    makers = {"letters": render_letters, "photos": photo_patches, "uniform": uniform_noise_images}
    count = check_count("OOD set size", count)
    for name in names:
        check_choice("OOD set", name, OOD_SETS)
    return {name: makers[name](input_shape, count, seed + k) for k, name in enumerate(names)}


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """AUROC of separating ``out_scores`` (positives) from ``in_scores`` by larger score; ties count half."""
    from sklearn.metrics import roc_auc_score

    scores = np.concatenate([np.asarray(in_scores, float), np.asarray(out_scores, float)])
    if np.isnan(scores).any():
        raise InvalidArgumentError("scores contain NaN")
    finite = scores[np.isfinite(scores)]
    top = finite.max() + 1.0 if finite.size else 1.0
    scores = np.nan_to_num(scores, posinf=top, neginf=-top)
    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    return float(roc_auc_score(labels, scores))


def score_columns(measures: Sequence[str]) -> tuple[str, ...]:
    """Columns of a scores file: ``idx set index``, then ``<kind>_<measure>`` for each measure and kind."""
    return ("idx", "set", "index", *(f"{kind}_{m}" for m in measures for kind in SCORE_KINDS))


def score_sets(
    model: nn.Module | Engine,
    sets: Mapping[str, torch.Tensor],
    noise: Noise,
    num_samples: int,
    measures: Sequence[str],
    num_classes: int,
    taus: Sequence[float],
    out: str | Path,
    *,
    members: int = 1,
    seed: int = 0,
    batch_size: int = 1024,
    chunk: int = 32,
    arguments: Mapping[str, object] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
) -> dict:
    """Score every image of every set (in-distribution first by convention) and write one row each to ``out``.

    Row ``idx`` is the running index over the sets in order; it also seeds that image's noise (stream
    :data:`~smoothcert.uncertainty.scores.SCORES`), so a resumed run writes the rows an uninterrupted one would.
    Columns: :func:`score_columns`. ``taus``: one τ per measure for ``frac_uncertain``. ``model`` may be the
    :class:`~smoothcert.engine.Engine` of a certification (``batch_size`` is then the engine's); the clean and
    the noisy passes both go through it. The file is a :mod:`smoothcert.runs` results file: flushed rows
    (:class:`~smoothcert.runs.ResultWriter`), a manifest with the engine's settings, and on resume the
    arguments checked and the earlier sessions kept (:func:`~smoothcert.runs.earlier_runs`).
    Returns counts and timing of this call.
    """
    members = check_members(members)
    measures = tuple(check_measure(m, members) for m in measures)
    num_samples, chunk = check_count("num_samples", num_samples), check_count("chunk", chunk)
    if len(taus) != len(measures):
        raise InvalidArgumentError(f"give one tau per measure: {len(measures)} measures, {len(taus)} taus")
    taus = [check_tau(t, m) for t, m in zip(taus, measures, strict=True)]
    options = RunOptions(resume=resume, overwrite=overwrite, progress=progress)
    engine = model if isinstance(model, Engine) else Engine(model, batch_size=batch_size)
    entries = [(name, j) for name, xs in sets.items() for j in range(len(xs))]
    if not entries:
        raise InvalidArgumentError("no images to score")
    args = dict(arguments or {"num_samples": num_samples, "measures": list(measures), "taus": taus,
                              "seed": seed, "sets": {k: len(v) for k, v in sets.items()}})
    # Resume is keyed on content: the model's weights and the scored images, not paths.
    fingerprint = {"model": model_fingerprint(engine.model),
                   "data": data_fingerprint(*[torch.stack(list(v)) for v in sets.values() if len(v)])}
    if options.resume:
        check_resumable(out, args, fingerprint)
    history = earlier_runs(out) if options.resume else []
    sections = {**(context or {}), "engine": engine.info(), "fingerprint": fingerprint,
                **({"earlier_runs": history} if history else {})}
    writer = ResultWriter(out, score_columns(measures), resume=options.resume, overwrite=options.overwrite)
    todo = [i for i in range(len(entries)) if i not in writer.done]
    write_manifest(out, args, status="running", **sections)
    bar = progress_bar(total=len(todo) * num_samples, unit="sample", unit_scale=True, disable=not options.progress,
                       desc=f"ood scores σ={getattr(noise, 'sigma', noise.scale):g}", smoothing=0.1)
    started, done = time.perf_counter(), 0
    try:
        with writer:
            for first in range(0, len(todo), chunk):
                ids = todo[first : first + chunk]
                x = torch.stack([sets[entries[i][0]][entries[i][1]] for i in ids])
                _, clean = class_and_uncertainty(engine.logits(x), measures, members, num_classes)
                noisy = noisy_uncertainty(engine, x, noise, num_samples, measures, num_classes, members=members,
                                          taus=taus, seed=seed, indices=ids, stream=SCORES, progress=bar.update)
                clean = clean.double().cpu().numpy()
                for j, i in enumerate(ids):
                    row = {"idx": i, "set": entries[i][0], "index": entries[i][1]}
                    for s, m in enumerate(measures):
                        row[f"clean_{m}"] = float(clean[j, s])
                        row[f"mean_u_{m}"] = float(noisy.mean[j, s])
                        row[f"frac_uncertain_{m}"] = float(noisy.rejected[j, s])
                    writer.write(row)
                done += len(ids)
    finally:
        bar.close()
        seconds = time.perf_counter() - started
        timing = {"inputs": done, "seconds": seconds, "samples": done * num_samples,
                  "samples_per_second": done * num_samples / max(seconds, 1e-9), "resumed_rows": len(writer.done)}
        write_manifest(out, args, status="complete" if done == len(todo) else "interrupted", timing=timing,
                       **sections)
    return {"inputs": done, "seconds": seconds}


def read_scores(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """A scores TSV → set name → column name → float array (rows in file order)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as err:
        raise ResultsError(f"cannot read scores file {path}: {err.strerror or err}") from err
    if not rows or "set" not in rows[0]:
        raise ResultsError(f"{path} is not an OOD scores file (no rows or no 'set' column)")
    out: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        cols = out.setdefault(row["set"], {})
        for key, value in row.items():
            if key not in ("set", "idx", "index"):
                cols.setdefault(key, []).append(float(value))
    return {s: {k: np.asarray(v) for k, v in cols.items()} for s, cols in out.items()}


def auroc_rows(scores: Mapping[str, Mapping[str, np.ndarray]], in_set: str, measures: Sequence[str]
               ) -> tuple[list[str], list[list]]:
    """AUROC table: one row per (measure, score kind), one column per OOD set; returns (header, rows)."""
    if in_set not in scores:
        raise ResultsError(f"no in-distribution set {in_set!r} among {', '.join(scores)}")
    ood = [s for s in scores if s != in_set]
    rows = []
    for m in measures:
        for kind in SCORE_KINDS:
            key = f"{kind}_{m}"
            values = [auroc(scores[in_set][key], scores[s][key]) for s in ood]
            rows.append([m, kind, *values, float(np.mean(values)) if values else math.nan])
    return ["measure", "score", *ood, "mean"], rows


def auroc_table(scores: Mapping[str, Mapping[str, np.ndarray]], in_set: str, measures: Sequence[str],
                caption: str | None = None) -> Table:
    """:func:`auroc_rows` as a :class:`~smoothcert.document.Table` (raw numbers; the renderer formats them)."""
    header, rows = auroc_rows(scores, in_set, measures)
    return Table(header, rows, caption=caption)
