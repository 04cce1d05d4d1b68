"""Client-read benchmark: `python client_read.py CASE` where CASE is one of
read_small, read_big, read_1000 (or set BENCH_CASE).

Written against Metaflow's client API. Under Metaflow it is run with the Metaflow venv's
python; under artiflow it is run with `python -m artiflow client_read.py CASE`, whose launcher
makes `import metaflow` resolve to artiflow. It must run in the directory (and with the
environment) of the flow case that produced the run it reads: benchmarks/run.py arranges that.
"""
import os
import sys
import time

from metaflow import Flow, namespace


def read_small():
    message = Flow("HelloFlow").latest_run["start"].task.data.message
    assert message == "hello from the benchmark", message
    return message


def read_big():
    arr = Flow("BigArrayFlow").latest_run["start"].task.data.arr
    total = float(arr.sum())
    assert total == arr.size and arr.dtype == "float64", (total, arr.dtype)
    return total


def read_1000():
    values = [task.data.y for task in Flow("ForeachFlow").latest_run["work"]]
    n = len(values)  # 1000 (100 with run.py --quick)
    assert n in (100, 1000) and sorted(values) == [2 * i for i in range(n)], n
    return n, sum(values)


CASES = {"read_small": read_small, "read_big": read_big, "read_1000": read_1000}


def main():
    args = [a for a in sys.argv[1:] if a in CASES]
    case = args[0] if args else os.environ.get("BENCH_CASE", "")
    if case not in CASES:
        sys.exit("usage: client_read.py {%s}" % ",".join(CASES))
    namespace(None)
    t0 = time.perf_counter()
    result = CASES[case]()
    dt = time.perf_counter() - t0
    # the last line is parsed by run.py: in-process time of the read itself
    print("result: %r" % (result,))
    print("BENCH_INNER_SECONDS %.6f" % dt)


if __name__ == "__main__":
    main()
