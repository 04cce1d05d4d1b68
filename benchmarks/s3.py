#!/usr/bin/env python3
"""A 512 MB artifact through artiflow's S3 datastore vs plain boto3, against the same local S3 server.

    python benchmarks/s3.py [--mb 512] [--repeat 3]

Starts moto_server (pip install 'moto[server]' boto3) on 127.0.0.1, then, alternating which goes first,
saves and loads a float64 random array (np.random.default_rng(0).random) with
- artiflow: ContentStore(S3Storage).save + .load (hashing, serialization and the read's verification
  included; a fresh prefix each round, so every save really uploads), and
- boto3: upload_fileobj + download_fileobj of the same bytes (default TransferConfig, BytesIO both ways).
Prints the median of each figure and the ratio artiflow / boto3 (the target is at most 1.3x).
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
