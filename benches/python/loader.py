"""One timed epoch of a PyTorch DataLoader with 8 workers over a dataset, through one library.

Run by ``benches/run.sh python`` (``benches/src/python.rs``), once per system, workload and
repetition; prints one JSON line ``{"samples", "bytes", "seconds"}``. Each library is used in
its usual DataLoader pattern:

- ``s3dlio_client``: ``S3dlioIterableDataset.from_prefix`` (zero-copy payloads, prefetch
  through ``get_many``), for any backend;
- ``s3dlio``: a map-style dataset calling the package's ``get`` per sample (see
  :class:`S3dlioDataset` for why not its own datasets), for any backend;
- ``s3torchconnector``: ``S3IterableDataset.from_prefix`` with sharding, S3 only;
- ``boto3``: a map-style dataset of the listed keys, one ``get_object`` per sample from a
  client made in each worker, S3 only;
- ``python``: a map-style dataset of the directory's files, ``open(path).read()`` per sample,
  local files only.

Every sample gets the same work in the worker: it is viewed as a numpy array (no copy where
the library gives a buffer), one byte of every 4 KiB page is read, and the object's index is
taken from its first and last 8 bytes, where the benchmark wrote it. The main process checks
that every index arrived exactly once with the right size, so a library that lost, repeated
or truncated a sample fails the run instead of looking fast. The time covers building the
dataset (listing included) and the whole epoch, worker start-up included, for every system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.utils.data as tud

WORKERS = 8
BATCH = 16
Sample = tuple[int, int]


def check(buf: Any) -> Sample:
    """(index, size) of one object: -1 as index if its head and tail disagree."""
    a = np.frombuffer(buf, dtype=np.uint8)
    n = int(a.size)
    if n < 16:
        return -1, n
    int(a[::4096].sum())  # touch every page, as a decoder would
    head = int.from_bytes(a[:8].tobytes(), "little")
    tail = int.from_bytes(a[n - 8 :].tobytes(), "little")
    return (head if head == tail else -1), n


def collate(batch: list[Sample]) -> list[Sample]:
    return batch


class Boto3Dataset(tud.Dataset[Sample]):
    """The usual boto3 pattern: keys listed once, a client per worker, one GET per sample."""

    def __init__(self, uri: str, endpoint: str) -> None:
        self.bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.endpoint = endpoint
        pages = (
            self._client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        self.keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        self.client: Any = None

    def _client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> Sample:
        if self.client is None:
            self.client = self._client()
        body = self.client.get_object(Bucket=self.bucket, Key=self.keys[i])["Body"].read()
        return check(body)


class S3dlioDataset(tud.Dataset[Sample]):
    """The s3dlio package's get() per sample, over the dataset's known names.

    Not the package's own datasets: in 0.10.0 its iterable dataset with
    ``enable_sharding=True`` yields every object in every worker, and its map-style dataset
    lists in the main process, after which ``get`` in a forked worker hangs on S3 (its runtime
    does not survive the fork). So the names are given (no listing: an advantage to s3dlio)
    and the package is first used inside the workers.
    """

    def __init__(self, uri: str, objects: int) -> None:
        self.uris = [f"{uri}{i:06}" for i in range(objects)]

    def __len__(self) -> int:
        return len(self.uris)

    def __getitem__(self, i: int) -> Sample:
        import s3dlio

        return check(s3dlio.get(self.uris[i]).memoryview())


class FileDataset(tud.Dataset[Sample]):
    """Plain Python on local files: the directory listed once, ``open().read()`` per sample."""

    def __init__(self, uri: str) -> None:
        root = uri.removeprefix("file://")
        self.paths = sorted(e.path for e in os.scandir(root) if e.is_file())

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Sample:
        with open(self.paths[i], "rb") as f:
            return check(f.read())


def dataset(system: str, uri: str, objects: int, socket: str, endpoint: str) -> tud.Dataset[Sample]:
    if system == "s3dlio_client":
        from s3dlio_client.torch import S3dlioIterableDataset

        ds: tud.Dataset[Sample] = S3dlioIterableDataset.from_prefix(
            uri,
            transform=lambda _uri, payload: check(payload),
            socket=socket,
            arena_size=128 << 20,
            name="bench-python",
        )
        return ds
    if system == "s3dlio":
        return S3dlioDataset(uri, objects)
    if system == "s3torchconnector":
        from s3torchconnector import S3ClientConfig, S3IterableDataset

        ds = S3IterableDataset.from_prefix(
            uri,
            region="us-east-1",
            endpoint=endpoint,
            transform=lambda obj: check(obj.read()),
            s3client_config=S3ClientConfig(force_path_style=True),
            enable_sharding=True,
        )
        return ds
    if system == "boto3":
        return Boto3Dataset(uri, endpoint)
    if system == "python":
        return FileDataset(uri)
    raise SystemExit(f"unknown system {system!r}")


class _Mapped(tud.Dataset[Sample]):
    """A map-style dataset whose samples go through ``fn`` in the worker."""

    def __init__(self, inner: Any, fn: Callable[[Any], Sample]) -> None:
        self.inner = inner
        self.fn = fn

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> Sample:
        return self.fn(self.inner[i])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--system", required=True)
    ap.add_argument("--uri", required=True, help="the dataset's prefix, ending in /")
    ap.add_argument("--objects", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--socket", default="", help="s3dliod's socket (for s3dlio_client)")
    args = ap.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    torch.set_num_threads(1)
    # 8 workers on a machine with fewer cores is the workload asked for, not a mistake.
    warnings.filterwarnings("ignore", message="This DataLoader will create")

    t0 = time.perf_counter()
    ds = dataset(args.system, args.uri, args.objects, args.socket, endpoint)
    loader = tud.DataLoader(
        ds,
        batch_size=BATCH,
        num_workers=WORKERS,
        collate_fn=collate,
        multiprocessing_context="fork",
    )
    seen = np.zeros(args.objects, dtype=np.int64)
    samples = nbytes = bad = 0
    for batch in loader:
        for index, size in batch:
            samples += 1
            nbytes += size
            if 0 <= index < args.objects and size == args.size:
                seen[index] += 1
            else:
                bad += 1
    seconds = time.perf_counter() - t0

    missing, repeated = int((seen == 0).sum()), int((seen > 1).sum())
    if bad or missing or repeated:
        sys.exit(
            f"{args.system} on {args.uri}: {samples} samples, {bad} wrong (bad index or size), "
            f"{missing} missing, {repeated} repeated"
        )
    print(json.dumps({"samples": samples, "bytes": nbytes, "seconds": seconds}))


if __name__ == "__main__":
    main()
