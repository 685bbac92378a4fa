"""`smoothcert analyze` says what its numbers stand for: N and whether the run finished, what each radius
column certifies, how the high-probability values were lowered and clipped, columns without values, preset
radii, and rows of one input written twice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.analysis import abstain_rate, read_results
from smoothcert.analysis.metrics import high_probability_correction
from smoothcert.cli import main
from smoothcert.errors import ResultsError

HEADER = "idx\tlabel\tpredict\tradius\tcorrect\ttime"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def write_run(path: Path, rows: list[str], header: str = HEADER, manifest: dict | None = None) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    if manifest is not None:
        path.with_suffix(".json").write_text(json.dumps({"arguments": {"alpha": 0.001}, **manifest}))
    return path


def table_row(output: str, label: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def table_header(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("| run |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


CERTIFIED = [f"{i}\t{i % 3}\t{i % 3}\t0.4\t1\t0" for i in range(5)]


def test_a_partial_run_says_n_and_interrupted_k_of_m(tmp_path):
    """A run cut after 5 of its 12 inputs gave a table that looked complete."""
    path = write_run(tmp_path / "part.tsv", CERTIFIED, manifest={"status": "interrupted", "dataset": {"selected": 12}})
    out = ok(invoke("analyze", path, "--radii", "0,0.5"))
    assert table_header(out)[-1] == "N" and table_row(out, "part")[-1] == "5"
    assert "N = 5 rows" in out and "interrupted: 5 of 12 inputs" in out
    # Killed runs leave their manifest 'running'; files without a manifest are not called complete.
    write_run(path, CERTIFIED, manifest={"status": "running", "dataset": {"selected": 12}})
    assert "5 of 12 inputs" in ok(invoke("analyze", path))
    path.with_suffix(".json").unlink()
    assert "no manifest" in ok(invoke("analyze", path)) and "complete" not in ok(invoke("analyze", path))
    write_run(path, CERTIFIED, manifest={"status": "complete", "dataset": {"selected": 5}})
    out = ok(invoke("analyze", path))
    assert "complete" in out and "interrupted" not in out


def test_high_probability_values_say_their_method_and_clipping(tmp_path):
    """--high-prob-alpha printed negative accuracies with no word of how they were made."""
    path = write_run(tmp_path / "r.tsv", [*CERTIFIED[:2], "2\t1\t0\t0\t0\t0"])
    out = ok(invoke("analyze", path, "--radii", "0,0.5", "--high-prob-alpha", "0.2"))  # q = 3 of N = 3
    assert "Binomial(N, α)" in out and "--high-prob-method cohen" in out
    assert "clipped" in out and "Clipped at 0 (2 of 2 cells)" in out
    hp_row = out.split("High-probability")[1]
    assert all(float(v) >= 0 for v in table_row(hp_row, "r")[1:])
    cohen = ok(invoke("analyze", path, "--high-prob-alpha", "0.1", "--high-prob-method", "cohen"))
    assert "Cohen et al.'s α + √(α(1 − α)" in cohen and "does not hold at 1 − ρ" in cohen
    result = invoke("analyze", path, "--high-prob-method", "cohen")
    assert result.exit_code == 2 and "--high-prob-alpha" in result.stderr


def test_high_probability_correction_is_the_binomial_quantile():
    from scipy.stats import binom

    assert high_probability_correction(1000, 0.01) == pytest.approx(binom.ppf(0.999, 1000, 0.01) / 1000)


UNCERTAIN_HEADER = HEADER + "\tradius_i\tradius_ii\tradius_i_top2\tfrac_uncertain"
#: A classifier that (almost) never answers: R_i never issued, R_ii issued everywhere, top-2 never computed.
NEVER_ANSWERS = [f"{i}\t{i % 2}\t{i % 2}\t0.6\t1\t0\tnan\t0.6\tnan\t0.98" for i in range(6)]


def test_an_all_nan_column_has_no_abstain_rate_and_says_so(tmp_path):
    """A column with no value in any row showed abstain rate 0.000."""
    path = write_run(tmp_path / "u.tsv", NEVER_ANSWERS, UNCERTAIN_HEADER)
    out = ok(invoke("analyze", path, "--radius-column", "radius_i,radius_ii", "--radii", "0"))
    assert table_row(out, "u:radius_i")[1:4] == ["0.000", "0.000", "–"]  # r = 0, ACR, abstain rate
    assert table_row(out, "u:radius_ii")[3] == "0.000"
    assert "radius_i holds no value in any row" in out
    results = read_results(path)
    assert np.isnan(abstain_rate(results, "radius_i")) and abstain_rate(results, "radius_ii") == 0.0
    assert abstain_rate(results) == 0.0  # the plain column: predict == -1


def test_each_radius_column_says_what_it_certifies(tmp_path):
    """R_ii certified accuracy 1.0 for a classifier that (almost) never answers, with no word of why."""
    path = write_run(tmp_path / "u.tsv", NEVER_ANSWERS, UNCERTAIN_HEADER)
    out = ok(invoke("analyze", path, "--radius-column", "radius_i,radius_ii,radius", "--radii", "0"))
    assert table_row(out, "u:radius_ii")[1] == "1.000"
    lines = [line for line in out.splitlines() if line.startswith("- radius")]
    assert len(lines) == 3, out
    assert any("radius_ii:" in line and "G(x+δ) ∈ {ĉ_A, ⊥}" in line and "never answers" in line for line in lines)
    assert any("radius_i:" in line and "G(x+δ) = ĉ_A" in line for line in lines)
    assert any(line.startswith("- radius:") and "R_ii" in line for line in lines)
    assert "⊥ (no answer) is 0.980 of the noisy samples" in out
    plain = ok(invoke("analyze", write_run(tmp_path / "c.tsv", CERTIFIED)))
    assert "g(x+δ) = predict" in plain and "Cohen et al. 2019" in plain and "‖δ‖₂ < radius" in plain


def test_the_norm_of_the_radius_comes_from_the_manifest(tmp_path):
    path = write_run(tmp_path / "l1.tsv", CERTIFIED, manifest={"status": "complete",
                                                               "noise": {"type": "laplace", "norm": "l1"}})
    assert "‖δ‖₁ < radius" in ok(invoke("analyze", path))


def test_preset_radius_runs_show_no_acr_and_say_why(tmp_path):
    """Sequential runs at a preset radius printed an ACR, which their early stops make meaningless."""
    header = HEADER + "\tpA_lower\tn0\tn\tcount_top\tpA_upper\tstop"
    rows = [f"{i}\t1\t1\t{0.3 + 0.01 * i}\t1\t0\t0.9\t10\t300\t290\t0.99\tcertified" for i in range(4)]
    manifest = {"status": "complete", "arguments": {"sequential": True, "preset_radius": 0.25, "alpha": 0.001}}
    path = write_run(tmp_path / "seq.tsv", rows, header, manifest)
    out = ok(invoke("analyze", path, "--radii", "0,0.25"))
    assert table_row(out, "seq")[3] == "–"  # r = 0, r = 0.25, ACR
    assert "preset radius 0.25" in out and "ACR not shown" in out
    path.with_suffix(".json").unlink()  # without its manifest, the stop reasons tell
    assert table_row(ok(invoke("analyze", path, "--radii", "0,0.25")), "seq")[3] == "–"
    full = [row.replace("certified", "converged") for row in rows]
    assert table_row(ok(invoke("analyze", write_run(tmp_path / "full.tsv", full, header), "--radii", "0")),
                     "full")[2] != "–"


def test_rows_of_one_input_written_twice_are_counted_once_and_flagged(tmp_path):
    """Two sessions that both wrote the same inputs (identical rows but their time) counted them twice."""
    rows = [*CERTIFIED, *(row[:-1] + "7.5" for row in CERTIFIED[:3])]
    path = write_run(tmp_path / "dup.tsv", rows)
    results = read_results(path)
    assert len(results) == 5 and results.duplicates == 3
    assert list(results.idx) == list(range(5)) and results.time[0] == 0.0
    out = ok(invoke("analyze", path))
    assert table_row(out, "dup")[-1] == "5" and "3 repeated rows of the same inputs" in out


def test_rows_of_one_input_that_differ_are_refused(tmp_path):
    """Rows of one input from two different runs mixed in one file: analyze cannot choose, so it refuses."""
    path = write_run(tmp_path / "mixed.tsv", [*CERTIFIED, "2\t2\t-1\t0\t0\t0"])
    with pytest.raises(ResultsError, match=r"input idx 2 has rows that differ \(lines 4 and 7, column 'predict'\)"):
        read_results(path)
    result = invoke("analyze", path)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("smoothcert: error: ") and "idx 2" in result.stderr
