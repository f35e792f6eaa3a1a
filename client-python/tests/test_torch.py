"""PyTorch datasets through a real DataLoader (fork and spawn workers), and checkpoints."""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import Daemon, pattern_bytes
from s3dlio_client import Client
from s3dlio_client.torch import S3dlioIterableDataset, S3dlioMapDataset, load, save
from torch.utils.data import DataLoader

N = 2000


def checksum(uri: str, payload: Any) -> tuple[str, str]:
    """The transform the workers run: the sample's SHA-256, computed on the arena bytes."""
    return uri, hashlib.sha256(payload).hexdigest()


def as_tensor(uri: str, payload: Any) -> torch.Tensor:
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).clone()


@pytest.fixture(scope="module")
def dataset_files(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    root = tmp_path_factory.mktemp("ds")
    want = {}
    for i in range(N):
        data = pattern_bytes(500 + (i * 37) % 3000, i)
        p = root / f"{i % 10}" / f"sample-{i:05}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        want[f"file://{p}"] = hashlib.sha256(data).hexdigest()
    return f"file://{root}/", want


def collect(loader: DataLoader) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    out = []
    for uris, digests in loader:
        out.extend(zip(uris, digests))
    return out


def check_epoch(got: list[tuple[str, str]], want: dict[str, str]) -> None:
    counts = collections.Counter(u for u, _ in got)
    assert not [u for u, c in counts.items() if c > 1], "samples repeated"
    assert set(counts) == set(want), f"{len(set(want) - set(counts))} samples missing"
    assert all(want[u] == d for u, d in got), "a sample's bytes differ"


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_iterable_dataset_with_4_workers(
    daemon: Daemon, dataset_files: tuple[str, dict], context: str
) -> None:
    prefix, want = dataset_files
    ds = S3dlioIterableDataset.from_prefix(
        prefix, socket=daemon.socket, arena_size=16 << 20, transform=checksum, shuffle=True, seed=7
    )
    assert len(ds) == N
    loader = DataLoader(ds, batch_size=32, num_workers=4, multiprocessing_context=context)
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        got = collect(loader)
        check_epoch(got, want)
        epochs.append([u for u, _ in got])
    assert epochs[0] != epochs[1], "the two epochs come in different orders"
    assert ds.shard(0) != ds.shard(1)


def test_iterable_dataset_persistent_workers_change_order(
    daemon: Daemon, dataset_files: tuple[str, dict]
) -> None:
    prefix, want = dataset_files
    ds = S3dlioIterableDataset.from_prefix(
        prefix, socket=daemon.socket, transform=checksum, shuffle=True, pattern=r"^[0-4]/"
    )
    half = {u: d for u, d in want.items() if u[len(prefix)] in "01234"}
    loader = DataLoader(ds, batch_size=50, num_workers=2, persistent_workers=True)
    first, second = collect(loader), collect(loader)
    check_epoch(first, half)
    check_epoch(second, half)
    assert [u for u, _ in first] != [u for u, _ in second]


def test_iterable_dataset_without_workers_and_shards_over_ranks(
    daemon: Daemon, dataset_files: tuple[str, dict]
) -> None:
    prefix, want = dataset_files
    uris = sorted(want)[:300]
    ds = S3dlioIterableDataset.from_objects(uris, socket=daemon.socket)
    got = [(u, hashlib.sha256(p).hexdigest()) for u, p in ds]  # (uri, payload) by default
    check_epoch(got, {u: want[u] for u in uris})
    # Three ranks: disjoint shards whose union is everything, each epoch.
    for epoch in range(2):
        shards = []
        for rank in range(3):
            r = S3dlioIterableDataset.from_objects(
                uris, socket=daemon.socket, rank=rank, world_size=3, shuffle=True, seed=1
            )
            r.set_epoch(epoch)
            shards.append(r.shard())
        flat = [u for s in shards for u in s]
        assert sorted(flat) == sorted(uris) and len(flat) == len(set(flat))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_map_dataset_with_4_workers(
    daemon: Daemon, dataset_files: tuple[str, dict], context: str
) -> None:
    prefix, want = dataset_files
    ds = S3dlioMapDataset.from_prefix(prefix, socket=daemon.socket, transform=checksum)
    assert len(ds) == N and ds[0][1] == want[ds.uris[0]]
    g = torch.Generator().manual_seed(3)
    loader = DataLoader(
        ds, batch_size=25, shuffle=True, generator=g, num_workers=4, multiprocessing_context=context
    )
    orders = []
    for _ in range(2):
        got = collect(loader)
        check_epoch(got, want)
        orders.append([u for u, _ in got])
    assert orders[0] != orders[1]


def test_samples_as_tensors_and_default_payloads_cross_workers(
    daemon: Daemon, dataset_files: tuple[str, dict]
) -> None:
    prefix, want = dataset_files
    uris = sorted(want)[:40]
    ds = S3dlioMapDataset.from_objects(uris, socket=daemon.socket, transform=as_tensor)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    for uri, t in zip(uris, loader):
        assert hashlib.sha256(t.numpy().tobytes()).hexdigest() == want[uri]
    # Without a transform, payloads reach the main process as bytes (pickling copies).
    raw = S3dlioMapDataset.from_objects(uris, socket=daemon.socket)
    for uri, (u, b) in zip(uris, DataLoader(raw, batch_size=None, num_workers=2)):
        assert u == uri and isinstance(b, bytes) and hashlib.sha256(b).hexdigest() == want[uri]


def test_daemon_restarted_mid_epoch(fresh_daemon: Daemon, tmp_path: Path) -> None:
    c = Client(fresh_daemon.socket)
    want = {}
    for i in range(400):
        data = pattern_bytes(2000 + i, i)
        uri = f"file://{tmp_path}/r/{i:04}"
        c.put(uri, data)
        want[uri] = hashlib.sha256(data).hexdigest()
    ds = S3dlioIterableDataset.from_prefix(
        f"file://{tmp_path}/r/", socket=fresh_daemon.socket, transform=checksum, prefetch=8
    )
    loader = DataLoader(ds, batch_size=10, num_workers=2)
    got = []
    for n, (uris, digests) in enumerate(loader):
        got.extend(zip(uris, digests))
        if n == 5:
            fresh_daemon.restart()
    check_epoch(got, want)


def test_dataset_on_s3(daemon: Daemon, s3_bucket: str) -> None:
    c = Client(daemon.socket)
    prefix = f"{s3_bucket}/torch/"
    want = {}
    for i in range(120):
        data = pattern_bytes(1000 + i, i)
        c.put(f"{prefix}{i:04}", data)
        want[f"{prefix}{i:04}"] = hashlib.sha256(data).hexdigest()
    ds = S3dlioIterableDataset.from_prefix(prefix, socket=daemon.socket, transform=checksum)
    check_epoch(collect(DataLoader(ds, batch_size=8, num_workers=2)), want)
    mds = S3dlioMapDataset.from_prefix(prefix, socket=daemon.socket, transform=checksum)
    check_epoch(collect(DataLoader(mds, batch_size=8, num_workers=2)), want)
    model = torch.nn.Linear(8, 3)
    save(model.state_dict(), prefix + "ckpt.pt", socket=daemon.socket)
    back = load(prefix + "ckpt.pt", socket=daemon.socket)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())


def test_checkpoint_save_load(client: Client, base: str) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 64)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}
    save(state, base + "ckpt/latest.pt", client=client)
    assert client.stat(base + "ckpt/latest.pt").size > 64 * 32 * 4
    back = load(base + "ckpt/latest.pt", client=client)
    assert back["epoch"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(back["model"][k], v)
    fresh = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    fresh.load_state_dict(back["model"])
    x = torch.randn(2, 64)
    assert torch.equal(fresh(x), model(x))
