"""The audit job behind ``smoothcert audit``: every experiment of the audit, written into one folder.

Layout of an audit folder::

    manifest.json            arguments, environment, status, time of each stage, earlier sessions
    summary.md, summary.json the report: tables, figures, headline numbers
    models/                  trained base models (safetensors + JSON), reused when the folder is resumed
    samples/FAMILY_sigma_S.tsv (+ .json)   a row per test input and σ (resumable, Cohen-compatible)
    matrix/MODEL_sigma_S.json              accuracy-loss cells
    synthetic/               the 2-D model and cached smoothed regions
    tables/, figures/        markdown/TSV/JSON tables; PNG + SVG figures

Every stage resumes: rows already in a TSV, cells and regions already cached and models already trained are
kept; a folder is only resumed with the arguments it was started with. The stages are in :mod:`.stages`
(on the audited models) and :mod:`.synthetic`; the report is one :class:`~smoothcert.document.Document`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path

import torch

from smoothcert.backends import Backend, ModelSource
from smoothcert.document import Document, Paragraph, Section
from smoothcert.report.html import write_report
from smoothcert.runs import check_resumable, earlier_runs, write_manifest

from .base_models import NOISE, STANDARD, load_models, model_path, smooth_models, torch_threads, train_models
from .config import AuditConfig
from .folder import Echo, audit_folder, sigma_name, write_json
from .stages import run_accuracy_loss, run_disparity
from .synthetic import run_hypotheses, run_regions, run_shrinkage

__all__ = ["NOT_RESULT_SETTINGS", "run_audit"]

#: Settings that change no number: left out of the manifest's arguments, so a resumed run may change them.
NOT_RESULT_SETTINGS = ("device", "threads", "batch_size", "compile")

#: What the manifest keeps of every earlier (resumed or interrupted) session of a folder.
HISTORY = ("written", "status", "timing", "load_average", "threads", "batch_size")


def run_audit(config: AuditConfig, out: str | Path, *, checkpoints: Mapping[str, str | Path] | None = None,
              progress: bool = True, echo: Echo = print, backend: Backend | None = None) -> dict:
    """Run every audit stage into the folder ``out`` (resuming what is there) and write ``summary.md``.

    Settings, the folder, the data and given checkpoints are checked before anything is written: a bad
    setting, an ``out`` that is a file, a resume with other arguments or a checkpoint that does not fit the
    data raise a :class:`~smoothcert.errors.SmoothcertError` and leave the folder as it was.

    Args:
        config: the settings.
        out: the audit folder.
        checkpoints: audit these models (label → checkpoint) at every σ instead of training the
            ``standard``/``noise`` pair; the accuracy-loss matrix then covers them.
        backend: computes the rows of the disparity stage (:mod:`smoothcert.backends`, default serial): on Ray
            workers, each builds the audited model from its checkpoint (given, or trained into ``out/models``);
            the rows are the same. The other stages run here.
    Returns:
        the summary dict (also ``out/summary.json``).
    """
    from smoothcert.data import load_dataset
    from smoothcert.pipeline import select_indices

    config.validate()
    out = audit_folder(out)
    arguments = {k: v for k, v in asdict(config).items() if k not in NOT_RESULT_SETTINGS}
    arguments["checkpoints"] = {k: str(v) for k, v in (checkpoints or {}).items()}
    check_resumable(out / "manifest", arguments)
    earlier = earlier_runs(out / "manifest", keys=HISTORY)  # the folder's history, kept in the new manifest
    timing: dict[str, float] = {}
    load = {"start": list(os.getloadavg())}  # other work on the machine slows every timing
    started = time.perf_counter()
    sections: list[Section] = []
    summary: dict = {"config": arguments}

    @contextlib.contextmanager
    def stage(name: str, since: float | None = None) -> Iterator[None]:
        echo(f"[{name}]")
        t0 = time.perf_counter() if since is None else since
        yield
        timing[name] = round(time.perf_counter() - t0, 2)
        echo(f"[{name}] {timing[name]:.1f} s")

    status, batch_size, written = "interrupted", None, False
    try:
        with torch_threads(config.threads):
            t0 = time.perf_counter()
            data = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.data_seed)
            indices = select_indices(len(data.x_test), 1, config.max_inputs)
            if checkpoints:  # each checked on one input before the folder is touched
                def redraw(seed: int | None, test_size: int):  # the data with a checkpoint's own split
                    return load_dataset(config.dataset, data_dir=config.data_dir, seed=seed or 0,
                                        **({} if seed is None else {"test_size": test_size}))

                models = load_models(checkpoints, data, config.device, redraw)
                smooths, batch_size = smooth_models(models, data, config)
                families = {label: [(s, label) for s in config.sigmas] for label in models}
            out.mkdir(parents=True, exist_ok=True)
            write_manifest(out / "manifest", arguments, status="running", earlier_runs=earlier)
            written = True
            with stage("data and models", since=t0):
                if not checkpoints:
                    models = train_models(config, data, out, progress=progress, echo=echo)
                    smooths, batch_size = smooth_models(models, data, config)
                    families = {STANDARD: [(s, STANDARD) for s in config.sigmas],
                                NOISE: [(s, f"noise_{sigma_name(s)}") for s in config.sigmas]}
                echo(f"  sampling: batch size {batch_size}, torch threads {torch.get_num_threads()}, "
                     f"{'compiled' if config.compile else 'eager'} model")
                fingerprint = {"training": list(config.training()), "arch": config.arch,
                               "data_seed": config.data_seed}
            with stage("disparity"):
                sources = {key: ModelSource(checkpoint=str(checkpoints[key] if checkpoints else model_path(out, key)))
                           for key in models}
                results, section = run_disparity(smooths, families, data, indices, config, out, progress=progress,
                                                 echo=echo, fingerprint=fingerprint, backend=backend,
                                                 sources=sources)
                sections.append(section)
                summary["disparity"] = {f: [m.to_dict() for m in ms] for f, ms in results.items()}
            if config.matrix:
                with stage("accuracy loss"):
                    summary["accuracy_loss"], section = run_accuracy_loss(
                        smooths, {k: s for k, (_, s) in models.items()}, data, indices, config, out,
                        progress=progress)
                    sections.append(section)
            if config.synthetic:
                with stage("shrinkage"):
                    summary["shrinkage"], section = run_shrinkage(out, seed=config.seed)
                    sections.append(section)
                with stage("regions"):
                    summary["regions"], section = run_regions(out, seed=config.seed, progress=progress, echo=echo)
                    sections.append(section)
                with stage("hypotheses"):
                    summary["hypotheses"], section = run_hypotheses(out, seed=config.seed)
                    sections.append(section)
        status = "complete"
    finally:
        timing["total"] = round(time.perf_counter() - started, 2)
        load["end"] = list(os.getloadavg())
        if written:
            write_manifest(out / "manifest", arguments, status=status, timing=timing, load_average=load,
                           threads=config.threads or torch.get_num_threads(), device=config.device,
                           batch_size=batch_size, earlier_runs=earlier)
    runs = ["Time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()) + ".",
            *(f"Earlier run of this folder ({e.get('written')}, {e.get('status')}): "
              f"{(e.get('timing') or {}).get('total', math.nan):.1f} s in all." for e in earlier)]
    write_report(Document(f"Smoothing audit: {data.name}, {config.arch}", [
        Paragraph(f"Data: {data.split_note}. Audited test inputs: {len(indices)}. σ ∈ "
                  f"{{{', '.join(f'{s:g}' for s in config.sigmas)}}}; PREDICT and CERTIFY with n = {config.n:,} "
                  f"(CERTIFY selects with n0 = {config.n0}), α = {config.alpha:g}.\n"
                  f"Models: {', '.join(f'{k} (trained with σ = {s:g})' for k, (_, s) in models.items())}."),
        Paragraph("\n".join(runs)),
        *sections,
    ]), out / "summary.md")
    summary["timing"], summary["load_average"] = timing, load
    write_json(out / "summary.json", summary)
    echo(f"audit written to {out}/summary.md (and summary.html) in {time.perf_counter() - started:.1f} s")
    return summary
