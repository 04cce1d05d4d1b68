"""Physical-limit baseline for the big-array cases, no framework involved:
np.ones(MB MiB of float64) -> np.save to a temp dir -> np.load -> sum.
With --no-io, only np.ones -> sum: the flow's own work, the floor under any framework.
Usage: python baseline.py [--mb 512] [--no-io]"""
import argparse
import os
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--no-io", action="store_true", help="skip np.save and np.load")
    a = ap.parse_args()
    t0 = time.perf_counter()
    arr = np.ones(a.mb * 2**20 // 8)
    if a.no_io:
        total = float(arr.sum())
        assert total == a.mb * 2**20 // 8, total
        print("BENCH_INNER_SECONDS %.6f" % (time.perf_counter() - t0))
        return
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as d:
        path = os.path.join(d, "arr.npy")
        np.save(path, arr)
        del arr
        total = float(np.load(path).sum())
    assert total == a.mb * 2**20 // 8, total
    print("BENCH_INNER_SECONDS %.6f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
