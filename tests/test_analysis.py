"""Result files, certified-accuracy metrics, tables (with Cohen et al.'s published table) and plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from smoothcert.analysis import (
    CertifyResults,
    abstain_rate,
    average_certified_radius,
    certified_accuracy,
    class_counts,
    clean_accuracy,
    high_probability_certified_accuracy,
    matched_noise_files,
    parse_published_table,
    parse_time,
    per_class_certified_accuracy,
    published_table_radii,
    read_results,
    reproduce_cohen_table,
    summary,
    vary_noise_table,
)
from smoothcert.errors import InvalidArgumentError, ResultsError
from smoothcert.report.plots import plot_certified_accuracy
from smoothcert.report.tables import certified_accuracy_table, latex_escape, latex_table, markdown_table

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cohen2019"

# Five rows worked by hand: two correct with radii 0.5 and 0.25, one abstain, one wrong with a large radius,
# one correct with radius exactly 0. Times mix plain seconds and timedelta strings.
HAND_TSV = (
    "idx\tlabel\tpredict\tradius\tcorrect\ttime\tpA_lower\tn0\tn\tcount_top\tradius_i\n"
    "0\t0\t0\t0.5\t1\t1.5\t0.9\t100\t1000\t950\t0.4\n"
    "1\t0\t0\t0.25\t1\t0:00:02.250000\t0.8\t100\t1000\t850\t0.1\n"
    "2\t1\t-1\t0.0\t0\t0:01:00\t0.4\t100\t1000\t450\t\n"
    "3\t1\t0\t0.8\t0\t3\t0.95\t100\t1000\t990\t0.8\n"
    "4\t2\t2\t0.0\t1\t1 day, 0:00:00\t0.5\t100\t1000\t520\t0.0\n"
)


@pytest.fixture
def hand(tmp_path: Path) -> CertifyResults:
    path = tmp_path / "hand.tsv"
    path.write_text(HAND_TSV)
    return read_results(path)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    return path


def _require_reference() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")


# ---- reader --------------------------------------------------------------------------------------

def test_read_hand_results(hand: CertifyResults) -> None:
    assert len(hand) == 5 and hand.name == "hand"
    np.testing.assert_array_equal(hand.idx, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(hand.predict, [0, 0, -1, 0, 2])
    np.testing.assert_array_equal(hand.correct, [True, True, False, False, True])
    np.testing.assert_allclose(hand.time, [1.5, 2.25, 60.0, 3.0, 86400.0])
    np.testing.assert_array_equal(hand.abstained, [False, False, True, False, False])
    assert hand.columns[6:] == ["pA_lower", "n0", "n", "count_top", "radius_i"]
    assert hand.extra["n"].dtype == np.int64 and hand.extra["pA_lower"].dtype == np.float64
    assert np.isnan(hand.extra["radius_i"][2])  # empty cell of a numeric column
    with pytest.raises(ValueError):
        hand.radius[0] = 1.0  # arrays are read-only


def test_parse_time() -> None:
    assert parse_time("15.4") == 15.4
    assert parse_time("0:02:31.238689") == pytest.approx(151.238689)
    assert parse_time("2 days, 1:00:00") == 2 * 86400 + 3600
    with pytest.raises(ValueError):
        parse_time("soon")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("idx\tlabel\tpredict\tcorrect\ttime\n0\t0\t0\t1\t1.0\n", "missing column(s) radius"),
        ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t0\t0\t0.5\t1\t1.0\n1\t0\t0\tabc\t1\t1.0\n",
         "line 3, column 'radius'"),
        ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t0\t0\t0.5\t2\t1.0\n", "line 2, column 'correct'"),
        ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t0\t0\tnan\t1\t1.0\n", "column 'radius'"),
        ("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t0\t0\t0.5\t1\n", "line 2: 5 fields"),
        ("idx\tlabel\tpredict\tradius\tcorrect\ttime\tidx\n", "repeated column(s) idx"),
        ("\n", "empty results file"),
    ],
)
def test_reader_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ResultsError) as info:
        read_results(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not found"):
        read_results(tmp_path / "nope.tsv")


def test_header_only_file_reads_empty(tmp_path: Path) -> None:
    res = read_results(_write(tmp_path, "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"))
    assert len(res) == 0
    with pytest.raises(InvalidArgumentError, match="no rows"):
        certified_accuracy(res, [0.0])


def test_in_memory_results_check_lengths() -> None:
    with pytest.raises(InvalidArgumentError, match="rows"):
        CertifyResults(idx=[0, 1], label=[0], predict=[0, 0], radius=[0.1, 0.2], correct=[1, 1], time=[1, 1])


# ---- metrics -------------------------------------------------------------------------------------

def test_certified_accuracy_by_hand(hand: CertifyResults) -> None:
    # r = 0: rows 0, 1, 4 (radius 0 ties r); r = 0.25: rows 0, 1 (tie); r = 0.5: row 0 (tie); beyond: none.
    # The wrong row 3 (radius 0.8) and the abstain row 2 never count.
    radii = [0.0, 0.25, 0.5, 0.50001, 0.8, 10.0]
    np.testing.assert_array_equal(certified_accuracy(hand, radii), [0.6, 0.4, 0.2, 0.0, 0.0, 0.0])
    expected = [(hand.correct & (hand.radius >= r)).mean() for r in radii]
    np.testing.assert_array_equal(certified_accuracy(hand, radii), expected)
    assert certified_accuracy(hand, 0.25).shape == ()
    assert certified_accuracy(hand, [[0.0, 0.25]]).shape == (1, 2)


def test_other_metrics_by_hand(hand: CertifyResults) -> None:
    assert average_certified_radius(hand) == pytest.approx((0.5 + 0.25) / 5)
    assert abstain_rate(hand) == pytest.approx(0.2)
    assert clean_accuracy(hand) == pytest.approx(0.6)


def test_radius_column(hand: CertifyResults) -> None:
    # radius_i = [0.4, 0.1, NaN, 0.8, 0.0]; correct rows 0, 1, 4.
    np.testing.assert_array_equal(certified_accuracy(hand, [0.0, 0.1, 0.4, 0.41], radius_column="radius_i"),
                                  [0.6, 0.4, 0.2, 0.0])
    assert average_certified_radius(hand, radius_column="radius_i") == pytest.approx(0.5 / 5)
    with pytest.raises(InvalidArgumentError, match="no column"):
        certified_accuracy(hand, [0.0], radius_column="radius_ii")


def test_high_probability_correction(hand: CertifyResults) -> None:
    alpha, rho, n = 0.001, 0.01, 5
    radii = np.array([0.0, 0.25, 0.5])
    # Binomial(5, 0.001): P(X = 0) = 0.995 ≥ 0.99, so q = 0 and nothing is subtracted.
    np.testing.assert_allclose(high_probability_certified_accuracy(hand, radii, alpha, rho), [0.6, 0.4, 0.2])
    np.testing.assert_allclose(high_probability_certified_accuracy(hand, radii, 0.1, rho), [0.2, 0.0, 0.0])
    cohen = (np.array([0.6, 0.4, 0.2]) - alpha - math.sqrt(alpha * (1 - alpha) * math.log(1 / rho) / n)
             - math.log(1 / rho) / (3 * n))
    np.testing.assert_allclose(high_probability_certified_accuracy(hand, radii, alpha, rho, method="cohen"),
                               np.maximum(cohen, 0.0))
    assert (high_probability_certified_accuracy(hand, radii, 0.3, rho, method="cohen") >= 0).all()
    with pytest.raises(InvalidArgumentError, match="method"):
        high_probability_certified_accuracy(hand, radii, alpha, method="bernstein")
    with pytest.raises(InvalidArgumentError, match="alpha"):
        high_probability_certified_accuracy(hand, radii, 1.5)
    with pytest.raises(InvalidArgumentError, match="rho"):
        high_probability_certified_accuracy(hand, radii, 0.001, rho=0.0)


def test_per_class(hand: CertifyResults) -> None:
    acc = per_class_certified_accuracy(hand, [0.0, 0.5], num_classes=4)
    assert acc.shape == (4, 2)
    np.testing.assert_array_equal(acc[:3], [[1.0, 0.5], [0.0, 0.0], [1.0, 0.0]])
    assert np.all(np.isnan(acc[3]))  # class 3 has no rows
    np.testing.assert_array_equal(class_counts(hand, num_classes=4), [2, 2, 1, 0])
    assert per_class_certified_accuracy(hand, 0.0).shape == (3, 1)
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        per_class_certified_accuracy(hand, [0.0], num_classes=2)


@pytest.mark.parametrize("radii", [[-0.1], [np.nan], [np.inf], [], "abc"])
def test_bad_radii(hand: CertifyResults, radii: object) -> None:
    with pytest.raises(InvalidArgumentError):
        certified_accuracy(hand, radii)


def test_summary(hand: CertifyResults) -> None:
    s = summary(hand, [0.0, 0.5])
    assert s["num_examples"] == 5 and s["num_abstained"] == 1
    assert s["certified_accuracy"] == [0.6, 0.2] and s["radii"] == [0.0, 0.5]
    assert s["clean_accuracy"] == pytest.approx(0.6) and s["abstain_rate"] == pytest.approx(0.2)
    assert s["total_time_s"] == pytest.approx(1.5 + 2.25 + 60 + 3 + 86400)
    assert all(isinstance(v, float) for v in s["certified_accuracy"])


# ---- tables --------------------------------------------------------------------------------------

def test_markdown_table_well_formed() -> None:
    text = markdown_table(["run", "acc", "n"], [["a|b", 0.12345, 3], ["c", float("nan"), None]], decimals=2)
    lines = text.splitlines()
    assert len(lines) == 4 and text.endswith("\n")
    assert lines[2] == r"| a\|b | 0.12 | 3 |" and lines[3] == "| c | – |  |"
    assert all(ln.startswith("|") and ln.endswith("|") for ln in lines)
    assert len({ln.replace(r"\|", "").count("|") for ln in lines}) == 1
    with pytest.raises(InvalidArgumentError, match="cells"):
        markdown_table(["a", "b"], [[1]])


def test_latex_table_well_formed() -> None:
    text = latex_table(["run", "$r = 0.5$"], [["σ_0.25 & 50%", 0.5]], caption="Certified accuracy")
    assert text.count(r"\begin{") == text.count(r"\end{") == 2
    assert r"\caption{Certified accuracy}" in text and r"\begin{tabular}{lr}" in text
    assert r"σ\_0.25 \& 50\% & 0.500 \\" in text and r"run & $r = 0.5$ \\" in text
    assert latex_escape(r"$\sigma_{0}$ a_b") == r"$\sigma_{0}$ a\_b"
    bare = latex_table(["a"], [[1]])
    assert bare.startswith(r"\begin{tabular}") and r"\begin{table}" not in bare


def test_certified_accuracy_table(hand: CertifyResults) -> None:
    other = CertifyResults(idx=[0, 1], label=[0, 1], predict=[0, 1], radius=[0.3, 0.3], correct=[1, 1],
                           time=[1.0, 1.0], name="other")
    runs = {"hand": hand, "other": other}
    md = certified_accuracy_table(runs, [0.0, 0.25, 0.5], mark_best=True, acr=True, abstain=True)
    lines = md.splitlines()
    assert lines[0] == "| run | r = 0 | r = 0.25 | r = 0.5 | ACR | abstain rate |"
    assert lines[2] == "| hand | 0.600 | 0.400 | **0.200** | 0.150 | 0.200 |"
    assert lines[3] == "| other | **1.000** | **1.000** | 0.000 | **0.300** | 0.000 |"
    tex = certified_accuracy_table(runs, [0.25], fmt="latex", mark_best=True, decimals=2)
    assert r"other & \textbf{1.00} \\" in tex and r"$r = 0.25$" in tex
    tsv = certified_accuracy_table(runs, [0.25], fmt="tsv", mark_best=True)
    assert tsv.splitlines() == ["run\tr=0.25", "hand\t0.400", "other\t1.000"]
    with pytest.raises(InvalidArgumentError, match="fmt"):
        certified_accuracy_table(runs, [0.25], fmt="html")  # type: ignore[arg-type]


# ---- Cohen et al. (2019) reference data ----------------------------------------------------------

def test_read_all_reference_files() -> None:
    _require_reference()
    files = sorted(REFERENCE.glob("*.tsv"))
    assert len(files) >= 7
    for path in files:
        res = read_results(path)
        assert len(res) > 0 and res.extra == {}
        np.testing.assert_array_equal(res.correct, (res.predict == res.label) & (res.predict != -1))
        assert np.all(res.time > 1.0)
    assert len(read_results(REFERENCE / "imagenet_resnet50_noise_0.25_test_sigma_0.25.tsv")) == 427


def test_cohen_cifar10_sigma_025_unrounded() -> None:
    _require_reference()
    res = read_results(REFERENCE / "cifar10_resnet110_noise_0.25_test_sigma_0.25.tsv")
    assert len(res) == 500
    np.testing.assert_allclose(certified_accuracy(res, [0.0, 0.25, 0.5, 0.75, 1.0]),
                               [0.748, 0.600, 0.428, 0.266, 0.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("dataset", "n_rows"), [("cifar10", 4), ("imagenet", 3)])
def test_reproduce_published_table(dataset: str, n_rows: int) -> None:
    _require_reference()
    published_path = REFERENCE / f"published_vary_noise_{dataset}.md"
    ours, published = reproduce_cohen_table(REFERENCE, dataset)
    assert len(published) == n_rows and list(ours) == list(published)
    for label, values in published.items():
        assert ours[label] == values, label
    # The whole text, best-σ stars included, is the published file byte for byte.
    radii = published_table_radii(published_path)
    assert vary_noise_table(matched_noise_files(REFERENCE, dataset), radii) == published_path.read_text()


def test_parse_published_table() -> None:
    _require_reference()
    table = parse_published_table(REFERENCE / "published_vary_noise_cifar10.md")
    assert table["&sigma; = 0.25"] == [0.60, 0.43, 0.27, 0.0, 0.0, 0.0]
    radii = published_table_radii(REFERENCE / "published_vary_noise_imagenet.md")
    assert radii == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]


def test_published_table_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not found"):
        parse_published_table(tmp_path / "missing.md")
    bad = tmp_path / "bad.md"
    bad.write_text("|  | r = 0.25 |r = 0.5 |\n| --- |  --- | --- |\n<b> x </b>| 0.5 |\n")
    with pytest.raises(ResultsError, match="line 3"):
        parse_published_table(bad)
    with pytest.raises(ResultsError, match="no cifar10"):
        matched_noise_files(tmp_path)


# ---- plots ---------------------------------------------------------------------------------------

def test_plot_writes_png_and_svg(hand: CertifyResults, tmp_path: Path) -> None:
    other = CertifyResults(idx=[0], label=[0], predict=[-1], radius=[0.0], correct=[0], time=[1.0])
    paths = plot_certified_accuracy({"hand": hand, "all abstain": other}, tmp_path / "out" / "sigma_0.25",
                                    title="hand-made")
    assert [p.name for p in paths] == ["sigma_0.25.png", "sigma_0.25.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG") and paths[0].stat().st_size > 1000
    assert "<svg" in paths[1].read_text() and paths[1].stat().st_size > 1000
    explicit = plot_certified_accuracy({"hand": hand}, tmp_path / "grid", radii=[0.5, 0.0, 0.25],
                                       radius_column="radius_i")
    assert all(p.stat().st_size > 0 for p in explicit)
    with pytest.raises(InvalidArgumentError):
        plot_certified_accuracy({}, tmp_path / "none")


@pytest.mark.parametrize("n,alpha,rho", [(200, 0.05, 0.05), (1000, 0.01, 0.001), (500, 0.001, 0.001),
                                         (10_000, 0.001, 0.01)])
def test_high_probability_accuracy_holds_at_one_minus_rho(n, alpha, rho):
    """Worst case: all N certificates claim the input, each is wrong with probability exactly α, so the true
    certified accuracy is 1 − W/N with W ~ Binomial(N, α). The corrected value c (read through the function)
    exceeds the truth when W > N(1 − c): that probability, computed exactly, is at most ρ for the binomial
    correction; a simulation of the same runs agrees."""
    res = CertifyResults(idx=np.arange(n), label=np.zeros(n), predict=np.zeros(n), radius=np.ones(n),
                         correct=np.ones(n, dtype=bool), time=np.zeros(n))
    corrected = high_probability_certified_accuracy(res, [0.5], alpha, rho)[0]
    # Fails when W / N > 1 − c, i.e. W ≥ floor(N (1 − c)) + 1 (rounded to stay clear of float noise).
    threshold = math.floor(round(n * (1 - corrected), 6)) + 1
    assert binom.sf(threshold - 1, n, alpha) <= rho
    wrong = np.random.default_rng(0).binomial(n, alpha, size=20_000)
    assert np.mean(1 - wrong / n < corrected) <= rho + 4 * math.sqrt(rho / 20_000) + 1e-4


def test_cohen_high_probability_formula_fails_at_one_minus_rho():
    """Cohen et al.'s formula, kept only to reproduce their plots, overstates at N = 1000, α = 0.01, ρ = 0.001:
    the statement fails with probability above ρ (exact binomial tail)."""
    n, alpha, rho = 1000, 0.01, 0.001
    res = CertifyResults(idx=np.arange(n), label=np.zeros(n), predict=np.zeros(n), radius=np.ones(n),
                         correct=np.ones(n, dtype=bool), time=np.zeros(n))
    corrected = high_probability_certified_accuracy(res, [0.5], alpha, rho, method="cohen")[0]
    threshold = math.floor(round(n * (1 - corrected), 6)) + 1
    assert binom.sf(threshold - 1, n, alpha) > rho
