"""`analyze --radius-column a,b,c` compares several radius columns of one results file."""

from click.testing import CliRunner

from smoothcert.cli import main

ROWS = """idx\tlabel\tpredict\tradius\tcorrect\ttime\tradius_i\tradius_ii
0\t1\t1\t0.5\t1\t0\t0.2\t0.9
1\t0\t0\t0.1\t1\t0\tnan\t0.3
2\t2\t-1\t0.0\t0\t0\tnan\tnan
3\t1\t1\t0.3\t1\t0\t0.3\t0.4
"""


def test_one_run_per_column(tmp_path):
    path = tmp_path / "u.tsv"
    path.write_text(ROWS)
    result = CliRunner().invoke(main, ["analyze", str(path), "--radii", "0,0.25,0.35",
                                       "--radius-column", "radius_i,radius_ii", "--plot", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = {line.split("|")[1].strip(): line for line in result.output.splitlines() if line.startswith("| u:")}
    # radius_i: certified (not NaN) and correct at r = 0: rows 0, 3 → 0.5; at 0.25: row 3 → 0.25; at 0.35: none.
    assert [c.strip() for c in lines["u:radius_i"].split("|")[2:5]] == ["0.500", "0.250", "0.000"]
    # radius_ii: rows 0, 1, 3 at r = 0; rows 0, 1, 3 at 0.25; rows 0, 3 at 0.35.
    assert [c.strip() for c in lines["u:radius_ii"].split("|")[2:5]] == ["0.750", "0.750", "0.500"]
    assert (tmp_path / "p.png").stat().st_size > 0
