"""Start-up time of the command line: ``smoothcert --help`` and one command's help, each in a fresh interpreter,
against the baseline of importing what the package used to load eagerly (PyTorch, SciPy's statistics and the
package's noises and smoothed classifier). Prints the median of REPEATS runs of each and the ratio.

    python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from smoothcert.accelerate import cpu_name

REPEATS = 7
CASES = {
    "smoothcert --help": [sys.executable, "-m", "smoothcert.cli", "--help"],
    "smoothcert certify --help": [sys.executable, "-m", "smoothcert.cli", "certify", "--help"],
}
BASELINE = [sys.executable, "-c", "import torch, scipy.stats, smoothcert.noise, smoothcert.smooth"]


def seconds(cmd: list[str]) -> float:
    """Median wall time of ``cmd`` over REPEATS runs, after one to warm the file cache."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    base = seconds(BASELINE)
    print(f"CPU: {cpu_name()}; median of {REPEATS} runs, each in a fresh interpreter")
    print(f"{'baseline: import torch, scipy.stats and the noises':<52} {base:6.2f} s")
    for name, cmd in CASES.items():
        took = seconds(cmd)
        print(f"{name:<52} {took:6.2f} s   {base / took:5.1f}× faster than the baseline")


if __name__ == "__main__":
    main()
