#!/usr/bin/env python3
"""artiflow on an S3 datastore against the same local S3 server (moto_server): two benchmarks.

    python benchmarks/s3.py [--mb 512] [--repeat 3]
    python benchmarks/s3.py --flows [--cases hello,foreach100] [--repeat 3] [--against-metaflow PY]

Both start moto_server (pip install 'moto[server]' boto3) on 127.0.0.1 and alternate which side goes first.

The default, a 512 MB artifact through artiflow's S3 datastore vs plain boto3: saves and loads a float64 random
array (np.random.default_rng(0).random) with
- artiflow: ContentStore(S3Storage).save + .load (hashing, serialization and the read's verification
  included; a fresh prefix each round, so every save really uploads), and
- boto3: upload_fileobj + download_fileobj of the same bytes (default TransferConfig, BytesIO both ways).
Prints the median of each figure and the ratio artiflow / boto3 (the target is at most 1.3x).

`--flows`, artiflow vs Metaflow on an S3 datastore: the flows of benchmarks/flows (hello, foreach100) run with
`--datastore s3` by each framework, as benchmarks/run.py runs them locally (same isolated homes, wall time of
the whole command, medians), each measurement on a fresh prefix of one bucket: artiflow with
ARTIFLOW_DATASTORE_ROOT + ARTIFLOW_S3_ENDPOINT_URL, Metaflow with METAFLOW_DATASTORE_SYSROOT_S3 +
METAFLOW_S3_ENDPOINT_URL (its metadata local). Metaflow's python needs boto3 too (benchmarks/.mfvenv: bash
benchmarks/setup_metaflow.sh, then benchmarks/.mfvenv/bin/python -m pip install boto3). After the timed rounds,
one untimed run of each goes through a counting proxy: the S3 requests each side makes.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "src"), os.path.join(os.path.dirname(HERE), "tests")]

from s3_server import CREDENTIALS, moto_server, s3_client  # noqa: E402  (the tests' server fixture)

BUCKET = "artiflow-bench"


def artiflow_round(endpoint: str, array, prefix: str) -> tuple[float, float]:
    """Seconds to save, then load (and verify), the array through artiflow's S3 backend."""
    import numpy as np

    from artiflow.datastore.s3 import S3Settings, S3Storage
    from artiflow.datastore.store import ContentStore

    store = ContentStore(S3Storage(BUCKET, prefix, S3Settings.from_env(endpoint)))
    store.storage.client()  # made before the clock starts, as the baseline's is
    start = time.perf_counter()
    ref = store.save("x", array)
    saved = time.perf_counter()
    back = store.load(ref)
    loaded = time.perf_counter()
    assert np.array_equal(back[:1000], array[:1000]) and back.shape == array.shape
    return saved - start, loaded - saved


def boto3_round(endpoint: str, payload: bytes, prefix: str) -> tuple[float, float]:
    """Seconds to upload_fileobj, then download_fileobj, the same bytes with a plain boto3 client."""
    client = s3_client(endpoint)
    source = io.BytesIO(payload)
    start = time.perf_counter()
    client.upload_fileobj(source, BUCKET, f"{prefix}/blob")
    saved = time.perf_counter()
    target = io.BytesIO()
    client.download_fileobj(BUCKET, f"{prefix}/blob", target)
    loaded = time.perf_counter()
    assert target.getbuffer().nbytes == len(payload)
    return saved - start, loaded - saved


def empty_bucket(endpoint: str) -> None:
    """Delete what a round stored, so the server's memory and disk stay flat."""
    client = s3_client(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512, help="array size in MB (default 512)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per side (default 3); medians are printed")
    parser.add_argument("--flows", action="store_true", help="artiflow vs Metaflow flows on S3 instead")
    parser.add_argument("--cases", default="hello,foreach100", help="with --flows: of " + ",".join(FLOW_CASES))
    parser.add_argument("--against-metaflow", default=MFVENV_PY, metavar="PY",
                        help="with --flows: a python with metaflow and boto3 (default benchmarks/.mfvenv)")
    args = parser.parse_args()
    if args.flows:
        flows_main(args)
        return
    import numpy as np

    os.environ.update(CREDENTIALS)
    array = np.random.default_rng(0).random(args.mb * 1_000_000 // 8)
    payload = array.tobytes()
    times: dict[str, list[tuple[float, float]]] = {"artiflow": [], "boto3": []}
    with moto_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        for i in range(args.repeat):
            order = ["artiflow", "boto3"] if i % 2 == 0 else ["boto3", "artiflow"]
            for side in order:
                prefix = f"round-{uuid.uuid4().hex[:8]}"
                run = artiflow_round(endpoint, array, prefix) if side == "artiflow" else boto3_round(endpoint, payload, prefix)
                times[side].append(run)
                print(f"  round {i + 1} {side:8s} save {run[0]:6.2f} s  load {run[1]:6.2f} s", flush=True)
                empty_bucket(endpoint)
    report(times, array.nbytes)


def report(times: dict[str, list[tuple[float, float]]], nbytes: int) -> None:
    """Medians per side and figure, and the ratios."""
    med = {side: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs),
                  statistics.median(t[0] + t[1] for t in runs)) for side, runs in times.items()}
    print(f"\n{nbytes / 1e6:.0f} MB float64 array, medians of {len(times['boto3'])}:")
    print(f"{'':10s}{'save':>9s}{'load':>9s}{'total':>9s}")
    for side, (save, load, total) in med.items():
        print(f"{side:10s}{save:8.2f}s{load:8.2f}s{total:8.2f}s")
    ratios = [a / b for a, b in zip(med["artiflow"], med["boto3"])]
    print(f"{'ratio':10s}{ratios[0]:8.2f}x{ratios[1]:8.2f}x{ratios[2]:8.2f}x   (artiflow / boto3; target <= 1.3x)")


# -- --flows: artiflow vs Metaflow, flows with --datastore s3 ------------------------------------------------
FLOW_CASES = {"hello": ("hello.py", []), "foreach100": ("foreach.py", ["--max-num-splits", "2000", "--n", "100"])}
MFVENV_PY = os.path.join(HERE, ".mfvenv", "bin", "python")


def flow_command(side: str, python: str, case: str) -> list[str]:
    """The command of one flow case: `--datastore s3` on either framework's CLI."""
    from run import FLOWS

    flow, options = FLOW_CASES[case]
    path = os.path.join(FLOWS, flow)
    if side == "artiflow":
        return [python, "-m", "artiflow", path, "--datastore", "s3", "run", *options]
    return [python, path, "--no-pylint", "--datastore=s3", "--metadata=local", "run", *options]


def flow_env(side: str, python: str, case: str, workdir: str, endpoint: str, root: str) -> dict:
    """run.py's isolated environment of the case, pointed at the S3 datastore `root` on `endpoint`."""
    from run import Case, Framework

    env = Framework(side, python).env(workdir, Case(case, "flow", ""))
    env.update({**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "ARTIFLOW_DATASTORE_ROOT": root, "ARTIFLOW_S3_ENDPOINT_URL": endpoint,
                "METAFLOW_DEFAULT_DATASTORE": "s3", "METAFLOW_DATASTORE_SYSROOT_S3": root,
                "METAFLOW_S3_ENDPOINT_URL": endpoint})
    return env


def run_flow_case(side: str, python: str, case: str, endpoint: str, logs: str) -> tuple[float, bool, str]:
    """One measured run (a fresh folder and S3 prefix): (wall seconds, ok, error)."""
    import tempfile

    from run import run_measured

    workdir = tempfile.mkdtemp(prefix=f"s3bench-{side}-", dir=logs)
    root = f"s3://{BUCKET}/{side}-{case}-{uuid.uuid4().hex[:8]}"
    log = os.path.join(workdir, "log.txt")
    got = run_measured(flow_command(side, python, case), workdir,
                       flow_env(side, python, case, workdir, endpoint, root), log, 600)
    return got.seconds, got.ok, got.error


def count_requests(side: str, python: str, case: str, endpoint: str, logs: str) -> dict[str, int]:
    """The S3 requests of one untimed run, by method, through a pass-through proxy."""
    from collections import Counter

    from s3_server import FaultProxy

    with FaultProxy(endpoint, ["pass"]) as proxy:
        seconds, ok, error = run_flow_case(side, python, case, proxy.endpoint, logs)
    if not ok:
        return {"failed": 1}
    return dict(Counter(head.split(b" ", 1)[0].decode() for head in proxy.heads))


def flows_main(args: argparse.Namespace) -> None:
    """Alternate artiflow and Metaflow on each case, print medians, ratios and request counts."""
    import shutil
    import tempfile

    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in FLOW_CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(FLOW_CASES)}")
    sides = {"artiflow": sys.executable}
    if os.path.exists(args.against_metaflow):
        sides["metaflow"] = args.against_metaflow
    else:
        print(f"no Metaflow python at {args.against_metaflow}: artiflow only (bash benchmarks/setup_metaflow.sh)")
    sys.path.insert(0, HERE)
    logs = tempfile.mkdtemp(prefix="s3bench-")
    times: dict[tuple[str, str], list[float]] = {}
    failures: dict[tuple[str, str], str] = {}
    with moto_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        for i in range(args.repeat):
            for case in cases:
                order = list(sides) if i % 2 == 0 else list(reversed(sides))
                for side in order:
                    seconds, ok, error = run_flow_case(side, sides[side], case, endpoint, logs)
                    status = "ok" if ok else f"FAILED: {error.splitlines()[0] if error else ''}"
                    print(f"  round {i + 1} {case:11s} {side:8s} {seconds:7.2f} s  {status}", flush=True)
                    if ok:
                        times.setdefault((case, side), []).append(seconds)
                    else:
                        failures[(case, side)] = error
                    empty_bucket(endpoint)
        requests = {(case, side): count_requests(side, sides[side], case, endpoint, logs)
                    for case in cases for side in sides}
    flows_report(cases, list(sides), times, failures, requests, args.repeat)
    if failures:
        print(f"\nlogs of the runs: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)


def flows_report(cases: list[str], sides: list[str], times: dict, failures: dict, requests: dict,
                 repeat: int) -> None:
    """The table: median wall seconds per side and the ratio metaflow / artiflow; then the S3 requests of one run."""
    print(f"\nflows on an S3 datastore (moto_server), medians of {repeat}:")
    print(f"{'case':12s}" + "".join(f"{side + ' s':>14s}" for side in sides) + (f"{'mf/af':>8s}" if len(sides) == 2 else ""))
    for case in cases:
        medians = [statistics.median(times[(case, s)]) if (case, s) in times else None for s in sides]
        row = f"{case:12s}" + "".join(f"{m:14.3f}" if m is not None else f"{'FAILED':>14s}" for m in medians)
        if len(sides) == 2:
            row += f"{medians[1] / medians[0]:7.2f}x" if None not in medians else f"{'-':>8s}"
        print(row)
    print("\nS3 requests of one run:")
    for case in cases:
        for side in sides:
            counts = requests[(case, side)]
            detail = ", ".join(f"{method} {n}" for method, n in sorted(counts.items()))
            print(f"  {case:12s}{side:10s}{sum(counts.values()):6d}  ({detail})")
    for (case, side), error in failures.items():
        print(f"\n{side} {case} failed:\n{error}")


if __name__ == "__main__":
    main()
