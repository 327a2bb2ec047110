"""Should the streaming loader's temporary file be an `np.memmap` instead of `RecordFile`?

Issue 30 asks to replace the hand-written record file (`os.pwrite` / `os.preadv`
on an anonymous temporary file) with `np.memmap`, unless a measurement says
not to. This times both stores side by side in one run, each in a fresh
subprocess (so its peak memory is its own), alternating:

- `pwrite`: a copy of the core of `RecordFile` as it was before the change
  (`os.pwrite` to append, `os.preadv` to read a batch, record by record);
- `memmap`: an `np.memmap` over an anonymous temporary file of the final size
  (the loader knows the number of files before it decodes them), written by
  slice assignment and read by fancy indexing (a copy per batch).

Each run appends `--records` images of `--size` x `--size` x 3 uint8 one at a
time (as the loader does), then reads them all back in shuffled batches of 32
(one pass, as a training epoch does). It prints the seconds of each phase,
and the growth of the peak resident memory (`ru_maxrss`, what
`bench_loader.py` reports as "peak MB") over the process's memory before the
store was made. Pages of a mapped file that the process has touched count
in its resident memory; pages written with `pwrite` stay in the page cache,
which does not.

Measured 2026-12-07, 15:32 UTC, on the shared 2-core machine while it was
quiet (load average 0.24-0.30 before and after each run, from `uptime`),
224 px, medians of the runs (each store in its own subprocess, alternating):

| records (decoded MB) | store | write s | read s (one shuffled pass) | peak memory growth |
|---|---|---|---|---|
| 2,000 (287 MB), 3 runs | `pwrite` | 0.09 | 0.069 | 10 MB |
| 2,000 (287 MB), 3 runs | `memmap` | 0.60 (0.11-0.81) | 0.065 | 297 MB |
| 6,000 (861 MB), 2 runs | `pwrite` | 0.29 | 0.19 | 10 MB |
| 6,000 (861 MB), 2 runs | `memmap` | 1.57 (0.38-2.77) | 0.15 | 871 MB |

Verdict: `RecordFile` stays. With `np.memmap` the process's peak resident
memory grows with the whole decoded folder (every page written through the
mapping is counted), so streaming would no longer keep memory flat, which
is its one purpose (`bench_loader.py` measures the same `ru_maxrss`). Its
batch reads are about 20 % faster, but writes are slower and noisier, and
a pass is a small part of a load either way.

Usage:
    .venv/bin/python benchmarks/bench_record_store.py [--records 2000] [--size 224]
        [--repeats 3] [--folder DIR]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORES = ("pwrite", "memmap")
BATCH = 32


def _rss_mb():
    """The process's resident memory now, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _PwriteStore:
    """The record file of transfer_keras before issue 30: os.pwrite / os.preadv."""

    def __init__(self, shape, folder):
        self.shape = shape
        self.record_bytes = int(__import__("numpy").prod(shape))
        self.file = tempfile.TemporaryFile(dir=folder)
        self.count = 0

    def append(self, record):
        view = memoryview(record).cast("B")
        offset = self.count * self.record_bytes
        while view:
            written = os.pwrite(self.file.fileno(), view, offset)
            view, offset = view[written:], offset + written
        self.count += 1

    def read(self, indices):
        import numpy as np

        out = np.empty((len(indices),) + self.shape, np.uint8)
        buffer = out.reshape(len(indices), -1)
        for row, index in enumerate(indices):
            os.preadv(self.file.fileno(), [buffer[row]], int(index) * self.record_bytes)
        return out


class _MemmapStore:
    """An np.memmap of the final size over an anonymous temporary file."""

    def __init__(self, shape, folder, capacity):
        import numpy as np

        self.file = tempfile.TemporaryFile(dir=folder)
        self.array = np.memmap(self.file, np.uint8, "w+", shape=(capacity,) + shape)
        self.count = 0

    def append(self, record):
        self.array[self.count] = record
        self.count += 1

    def read(self, indices):
        return self.array[indices]


def run_child(store, records, size, folder):
    """In a fresh process: write and read one store, print the measurements as JSON."""
    import numpy as np

    shape = (size, size, 3)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, np.uint8) for _ in range(8)]
    before_mb = _rss_mb()
    start = time.perf_counter()
    target = _PwriteStore(shape, folder) if store == "pwrite" else _MemmapStore(
        shape, folder, records)
    for index in range(records):
        target.append(images[index % len(images)])
    write_seconds = time.perf_counter() - start
    order = rng.permutation(records)
    start = time.perf_counter()
    checksum = 0
    for first in range(0, records, BATCH):
        batch = target.read(np.sort(order[first:first + BATCH]))
        checksum += int(batch[:, 0, 0, 0].sum())
    read_seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"store": store, "write_s": round(write_seconds, 3),
                      "read_s": round(read_seconds, 3),
                      "peak_growth_mb": round(peak_mb - before_mb),
                      "checksum": checksum}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.records, args.size, args.folder)
        return
    decoded_mb = args.records * args.size * args.size * 3 / 2**20
    print(f"{args.records} records of {args.size}x{args.size}x3 uint8 ({decoded_mb:,.0f} MB); "
          f"load average {os.getloadavg()}", flush=True)
    results = {store: [] for store in STORES}
    for _ in range(args.repeats):
        for store in STORES:
            command = [sys.executable, __file__, "--child", store, "--records",
                       str(args.records), "--size", str(args.size)]
            if args.folder:
                command += ["--folder", args.folder]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(output.stdout.strip().splitlines()[-1])
            results[store].append(result)
            print(json.dumps(result), flush=True)
    print(f"load average after: {os.getloadavg()}")
    for store, runs in results.items():
        print(f"{store}: write {statistics.median(r['write_s'] for r in runs):.3f} s, "
              f"read {statistics.median(r['read_s'] for r in runs):.3f} s, peak growth "
              f"{statistics.median(r['peak_growth_mb'] for r in runs):,.0f} MB (medians)")


if __name__ == "__main__":
    main()
