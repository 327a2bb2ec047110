"""How long each notebook takes under nbval, kernel start counted (issue 31's budget).

Runs `pytest --nbval-lax notebooks/<name>.ipynb` once per notebook, one after the
other, in one process each with no xdist workers, and prints the wall-clock seconds
of each run and their total, with the load average before and after. The budget:
under 120 s per notebook and 600 s for the course, on a quiet 2-core machine. Time
it with nothing else running; this is a benchmark, no test asserts on it.

    .venv/bin/python benchmarks/course_time.py             # every notebook
    .venv/bin/python benchmarks/course_time.py 00 03       # the notebooks whose names start so
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S, COURSE_BUDGET_S = 120, 600


def time_notebook(path):
    """Seconds `pytest --nbval-lax` takes on one notebook, and whether it passed."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "-o", "addopts=", "--nbval-lax", "--nbval-current-env", str(path)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, result.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 00 03")
    prefixes = parser.parse_args().prefixes
    paths = [path for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
             if not prefixes or path.name.startswith(tuple(prefixes))]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    total = 0.0
    for path in paths:
        seconds, passed = time_notebook(path)
        total += seconds
        flag = "" if seconds < NOTEBOOK_BUDGET_S else f"  over {NOTEBOOK_BUDGET_S} s"
        print(f"{seconds:6.1f} s  {'passed' if passed else 'FAILED'}  {path.name}{flag}", flush=True)
    print(f"{total:6.1f} s  total (budget {COURSE_BUDGET_S} s); "
          f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
