"""The training-zoo recipe: the table it writes from finished cells (the training itself is long: `make results`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smoothcert.results import Settings


@pytest.fixture(scope="module")
def zoo():
    from smoothcert.results import zoo

    return zoo


def write_cell(zoo, out: Path, method: str, radii: list[float], complete: bool = True) -> None:
    d = zoo.cell_dir(out, 1.0, method)
    d.mkdir(parents=True)
    lines = ["idx\tlabel\tpredict\tradius\tcorrect\ttime"]
    lines += [f"{i}\t0\t{0 if r > 0 else -1}\t{r}\t{int(r > 0)}\t0" for i, r in enumerate(radii)]
    (d / "certify.tsv").write_text("\n".join(lines) + "\n")
    (d / "certify.json").write_text(json.dumps({"status": "complete" if complete else "running"}))


def test_table_reads_finished_cells_and_compares_with_gaussian(zoo, tmp_path):
    write_cell(zoo, tmp_path, "gaussian", [1.0, 2.0, 0.0, 1.0])
    write_cell(zoo, tmp_path, "consistency", [1.5, 2.5, 0.0, 1.2])
    write_cell(zoo, tmp_path, "macer", [3.0, 3.0, 3.0, 3.0], complete=False)  # interrupted: not in the table
    text = zoo.table(tmp_path)
    gaussian = next(line for line in text.splitlines() if line.startswith("| 1 | gaussian |"))
    consistency = next(line for line in text.splitlines() if line.startswith("| 1 | consistency |"))
    macer = next(line for line in text.splitlines() if line.startswith("| 1 | macer |"))
    assert "| 1.000 |" in gaussian and gaussian.split(" | ")[2:4] == ["75.0", "75.0"]  # r = 0, 0.25
    assert " 1.300 [" in consistency  # ACR 5.2 / 4 = 1.3
    assert f"{1.3 / 1.0:.3f} [" in consistency  # ACR / Gaussian with its paired interval
    assert "not yet run" in macer
    assert "| 1 | consistency (published) |" in text and "1.738" in text
    assert "Measured: smoothcert LeNet on 8,000 MNIST images" in text


def test_commands_resume_nothing_and_name_the_recipe(zoo, tmp_path):
    train, certify = zoo.commands(tmp_path, 0.5, "catrs", Settings(data_dir=Path("/data")))
    assert train[0] == "train" and train[train.index("--data-dir") + 1] == "/data"
    assert "--catrs-lambda" in train and "--resume" not in train
    assert train[train.index("--lr") + 1] == str(zoo.LR) and train[train.index("--epochs") + 1] == str(zoo.EPOCHS)
    assert certify[certify.index("--n") + 1] == str(zoo.N) and certify[certify.index("--skip") + 1] == str(zoo.SKIP)
    from smoothcert.training import NOISE_OBJECTIVES

    assert tuple(zoo.METHODS) == NOISE_OBJECTIVES  # every objective is measured, in the registry's order
    steps = zoo.zoo_recipe().steps(tmp_path, Settings(data_dir=Path("/data")))
    assert len(steps) == 2 * len(zoo.SIGMAS) * len(NOISE_OBJECTIVES)
    assert all(s.command() == list(s.argv) for s in steps)  # nothing to resume in an empty folder
