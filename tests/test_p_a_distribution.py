"""The distribution of p̲_A: the metric, its table in ``analyze`` and its plot, its section in the demo report."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smoothcert.analysis import CertifyResults, p_a_distribution, p_a_distribution_data
from smoothcert.cli import main
from smoothcert.document import Table
from smoothcert.errors import InvalidArgumentError
from smoothcert.report.markdown import render_markdown
from smoothcert.workflows import demo_report

TSV = ("idx\tlabel\tpredict\tradius\tcorrect\ttime\tpA_lower\tn0\tn\tcount_top\tnorm\n"
       "0\t1\t1\t0.5\t1\t0\t0.97\t10\t100\t99\tl2\n"
       "1\t0\t-1\t0\t0\t0\t0.4\t10\t100\t50\tl2\n"
       "2\t2\t2\t0.1\t1\t0\t0.6\t10\t100\t70\tl2\n"
       "3\t2\t1\t0.3\t0\t0\t0.995\t10\t100\t100\tl2\n")


def results(p):
    n = len(p)
    return CertifyResults(idx=range(n), label=[0] * n, predict=[0] * n, radius=[0.0] * n, correct=[True] * n,
                          time=[0.0] * n, extra={"pA_lower": np.array(p)})


def test_fraction_at_or_above_each_level():
    res = results([0.4, 0.5, 0.9, 0.99, 0.999])
    assert p_a_distribution(res, [0.5, 0.9, 0.99, 0.999, 1.0]).tolist() == [0.8, 0.6, 0.4, 0.2, 0.0]
    assert p_a_distribution(results([0.3, float("nan")]), [0.0]).tolist() == [0.5]  # NaN: never counted
    with pytest.raises(InvalidArgumentError, match="levels"):
        p_a_distribution(res, [1.5])
    table = p_a_distribution_data({"a": res, "b": results([0.95])}, [0.5, 0.9])
    assert table.header == ("run", "p̲_A ≥ 0.5", "p̲_A ≥ 0.9") and table.rows[1] == ("b", 1.0, 1.0)


def test_analyze_reports_and_plots_it(tmp_path):
    path = tmp_path / "run.tsv"
    path.write_text(TSV)
    result = CliRunner().invoke(main, ["analyze", str(path), "--plot", str(tmp_path / "plot")])
    assert result.exit_code == 0, result.output
    assert "p̲_A ≥ 0.9" in result.stdout and "0.5" in result.stdout
    assert (tmp_path / "plot_pA.png").is_file() and (tmp_path / "plot_pA.svg").is_file()
    svg = (tmp_path / "plot.svg").read_text()
    assert "ℓ2" in svg or "radius" in svg


def test_demo_report_has_the_section():
    doc = demo_report(sigma=0.25, n0=100, n=1000, alpha=0.001, seed=0, epochs=1, test_accuracy=0.9, split_note="x",
                      table=Table(["run"], [["a"]]), device="cpu", samples_per_second=1.0, total_seconds=1.0,
                      train_seconds=1.0, p_a_table=p_a_distribution_data({"a": results([0.6, 0.99])}))
    text = render_markdown(doc)
    assert "Distribution of p̲_A" in text and "p_a_distribution.png" in text and "0.993116" in text


def test_plot_label_names_the_norm(tmp_path):
    from smoothcert.analysis import read_results
    from smoothcert.report.plots import norm_of, x_label

    path = tmp_path / "l1.tsv"
    path.write_text(TSV.replace("\tl2\n", "\tl1\n"))
    runs = {"l1": read_results(path)}
    assert norm_of(runs) == "l1" and x_label("l1") == "radius (ℓ1, input space)"
    assert norm_of({**runs, "l2": results([0.9])}) is None
    assert Path(path).is_file()
