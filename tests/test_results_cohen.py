"""The Cohen-baseline recipe: its commands carry the reference recipe, and its tables average the seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smoothcert.cli import main
from smoothcert.results import RECIPES, Settings, cohen


def write_cell(out: Path, sigma: float, seed: int, radii: list[float]) -> None:
    d = cohen.cell_dir(out, sigma, seed)
    d.mkdir(parents=True)
    lines = ["idx\tlabel\tpredict\tradius\tcorrect\ttime"]
    lines += [f"{i}\t0\t{0 if r > 0 else -1}\t{r}\t{int(r > 0)}\t0" for i, r in enumerate(radii)]
    (d / "certify.tsv").write_text("\n".join(lines) + "\n")
    (d / "certify.json").write_text(json.dumps({"status": "complete"}))


def test_table_is_the_mean_over_seeds_beside_the_published_row(tmp_path):
    small = Settings(scale="small")
    for seed, radii in zip(cohen.SEEDS, ([1.0, 0.3, 0.0, 0.6], [1.0, 0.0, 0.0, 0.6], [1.0, 0.3, 0.3, 0.0]),
                           strict=True):
        write_cell(tmp_path, 0.5, seed, radii)
    made = RECIPES["cohen-mnist"].tabulate(tmp_path, small)
    assert set(made) == {"table_sigma_0.5"}  # σ = 0.25 and 1 have no certified seeds here: not tabulated
    text = made["table_sigma_0.5"].text
    row = next(line for line in text.splitlines() if "smoothcert, digits" in line).split(" | ")
    # r = 0: 3/4, 2/4, 3/4 certified → 66.7%; r = 0.25 the same; r = 0.5: 2/4, 2/4, 1/4 → 41.7%; r = 0.75: 25%
    assert row[2].startswith("66.7 [") and row[3].startswith("66.7 [") and row[4].startswith("41.7 [")
    assert row[5].startswith("25.0 [")
    assert row[-1].startswith(f"{(1.9 + 1.6 + 1.6) / 12:.3f} [")  # ACR: mean radius over inputs, then seeds
    assert "| 0.5 | published, 60k images | 99.2 | 98.3 |" in text and "| 1.558 |" in text


def test_steps_carry_the_reference_recipe_and_three_seeds(tmp_path):
    steps = RECIPES["cohen-mnist"].steps(tmp_path, Settings(data_dir=Path("/data")))
    trains = [s.argv for s in steps if s.name.endswith("/train")]
    assert len(trains) == len(cohen.SIGMAS) * len(cohen.SEEDS) == 9
    first = list(trains[0])
    for flag, value in [("--optimizer", "sgd"), ("--lr", "0.01"), ("--weight-decay", "1e-4"), ("--batch-size", "256"),
                        ("--epochs", "90"), ("--lr-step", "30"), ("--lr-gamma", "0.1")]:
        assert first[first.index(flag) + 1] == value, flag
    assert {t[t.index("--seed") + 1] for t in trains} == {"0", "1", "2"}
    certify = next(s.argv for s in steps if s.name.endswith("/certify"))
    assert certify[certify.index("--n") + 1] == "100000" and certify[certify.index("--skip") + 1] == "4"
    assert "--precision" not in certify  # fp32, as the paper's: bf16 is emulated (slow) on CPUs without bf16 units
    assert certify[certify.index("--compile") + 1] == "on" and certify[certify.index("--batch-size") + 1] == "256"
    ctx = main.commands["train"].make_context("train", first[1:])  # the command accepts every flag
    assert ctx.params["lr_step"] == 30 and ctx.params["weight_decay"] == pytest.approx(1e-4)
