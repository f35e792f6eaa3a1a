"""Every Client call on file:// and on S3 (SeaweedFS), through the real daemon."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import s3dlio_client as s3c
from conftest import pattern_bytes, sha
from s3dlio_client import AsyncClient, Client


def test_put_get_stat_exists_round_trip(client: Client, base: str) -> None:
    data = pattern_bytes(3 * 1024 * 1024 + 7, 1)
    r = client.put(base + "a/obj.bin", data)
    assert (r.uri, r.size) == (base + "a/obj.bin", len(data))
    p = client.get(base + "a/obj.bin")
    assert len(p) == len(data) and p.object_size == len(data) and p.offset == 0
    assert sha(p) == sha(data)
    assert p.to_bytes() == data and bytes(p) == data
    m = client.stat(base + "a/obj.bin")
    assert m.size == len(data) and m.uri == base + "a/obj.bin" and m.etag
    assert m.last_modified_ns is not None and m.last_modified_ns > 0
    assert client.exists(base + "a/obj.bin")
    assert not client.exists(base + "a/missing.bin")


def test_put_takes_any_buffer(client: Client, base: str) -> None:
    arr = np.arange(1000, dtype=np.float32)
    client.put(base + "f32", arr)
    assert np.array_equal(np.frombuffer(client.get(base + "f32"), dtype=np.float32), arr)
    client.put(base + "ba", bytearray(b"bytearray"))
    assert client.get(base + "ba").to_bytes() == b"bytearray"
    strided = np.arange(20, dtype=np.uint8)[::2]  # not contiguous: copied first
    client.put(base + "strided", strided)
    assert client.get(base + "strided").to_bytes() == bytes(range(0, 20, 2))
    client.put(base + "empty", b"")
    e = client.get(base + "empty")
    assert len(e) == 0 and bytes(e) == b"" and memoryview(e).nbytes == 0
    # A payload is a buffer too: copy an object through the client.
    client.put(base + "copy", client.get(base + "f32"))
    assert client.get(base + "copy").to_bytes() == arr.tobytes()
    with pytest.raises(TypeError):
        client.put(base + "str", "text")  # type: ignore[arg-type]


def test_get_range(client: Client, base: str) -> None:
    data = pattern_bytes(100_000, 2)
    client.put(base + "r", data)
    p = client.get_range(base + "r", 1000, 10)
    assert p.to_bytes() == data[1000:1010] and p.offset == 1000 and p.object_size == 100_000
    assert client.get_range(base + "r", 99_990).to_bytes() == data[99_990:]
    assert client.get_range(base + "r", 99_990, 1000).to_bytes() == data[99_990:]
    with pytest.raises(s3c.OutOfRange) as e:
        client.get_range(base + "r", 100_000)
    assert e.value.uri == base + "r"
    with pytest.raises(s3c.InvalidArgument):
        client.get_range(base + "r", 0, 0)


def test_get_many_as_completed_and_in_order(client: Client, base: str) -> None:
    blobs = {f"{base}many/{i:03}": pattern_bytes(1000 + 37 * i, 10 + i) for i in range(60)}
    client.put_many(blobs.items(), max_in_flight=8)
    uris = list(blobs)
    got = {u: sha(p) for u, p in client.get_many(uris, concurrency=8)}
    assert got == {u: sha(d) for u, d in blobs.items()}
    ordered = [u for u, _ in client.get_many(iter(uris), ordered=True, window=5, concurrency=4)]
    assert ordered == uris
    # Byte ranges, mixed with whole objects, in order.
    reqs: list[s3c.Request] = [(uris[0], 10, 20), uris[1], (uris[2], 5, None)]
    out = [p.to_bytes() for _, p in client.get_many(reqs, ordered=True)]
    assert out == [blobs[uris[0]][10:30], blobs[uris[1]], blobs[uris[2]][5:]]


def test_get_many_errors(client: Client, base: str) -> None:
    client.put(base + "ok", b"ok")
    reqs = [base + "ok", base + "missing", base + "ok"]
    results = list(client.get_many(reqs, ordered=True, return_exceptions=True))
    assert [u for u, _ in results] == reqs
    assert isinstance(results[1][1], s3c.NotFound) and results[1][1].uri == base + "missing"
    assert results[0][1].to_bytes() == b"ok" and results[2][1].to_bytes() == b"ok"
    with pytest.raises(s3c.NotFound) as e:
        for _ in client.get_many(reqs, ordered=True):
            pass
    assert e.value.uri == base + "missing"
    assert list(client.get_many([])) == []


class _Counted:
    """An iterator over ``items`` that counts how many were taken (``pulled``)."""

    def __init__(self, items: list[str]) -> None:
        self._items = iter(items)
        self.pulled = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> str:
        item = next(self._items)
        self.pulled += 1
        return item


def test_get_many_is_lazy_and_bounded(daemon: object, base: str) -> None:
    # 300 objects of 64 KiB through a 1 MiB arena: only a window is ever outstanding, and
    # payloads dropped as they are consumed make room for the next ones.
    c = Client(daemon.socket, arena_size=1 << 20)  # type: ignore[attr-defined]
    c.put_many(((f"{base}lazy/{i}", pattern_bytes(65536, i)) for i in range(300)), 16)
    source = _Counted([f"{base}lazy/{i}" for i in range(300)])
    it = c.get_many(source, window=8, concurrency=4)
    first = next(it)
    assert source.pulled <= 9, "the request iterator is consumed lazily"
    seen = {first[0]: sha(first[1])}
    del first
    for u, p in it:
        seen[u] = sha(p)
    assert seen == {f"{base}lazy/{i}": sha(pattern_bytes(65536, i)) for i in range(300)}


def test_get_many_window_bytes_bounds_requests_in_flight(client: Client, base: str) -> None:
    # 40 objects of 256 KiB with a 1 MiB byte budget: after the first payload the window is
    # 4 requests (it starts at 8), so soon at most 4 more are pulled than were yielded.
    c = client
    c.put_many(((f"{base}wb/{i}", pattern_bytes(262144, i)) for i in range(40)), 8)
    source = _Counted([f"{base}wb/{i}" for i in range(40)])
    seen: dict[str, str] = {}
    ahead = []
    for n, (u, p) in enumerate(c.get_many(source, window=32, window_bytes=1 << 20), 1):
        seen[u] = sha(p)
        ahead.append(source.pulled - n)
    assert seen == {f"{base}wb/{i}": sha(pattern_bytes(262144, i)) for i in range(40)}
    assert ahead[0] <= 8 and max(ahead[8:]) <= 4, ahead
    with pytest.raises(ValueError, match="window_bytes"):
        c.get_many([base + "wb/0"], window_bytes=0)


def test_list_is_lazy_sorted_with_prefixes_and_pattern(client: Client, base: str) -> None:
    names = ["a/1", "a/2", "b/x/3", "c.txt", "d"]
    client.put_many(((base + n, n.encode()) for n in names), 4)
    rec = list(client.list(base, recursive=True))
    assert [e.uri for e in rec] == [base + n for n in names]
    assert [e.size for e in rec] == [len(n) for n in names]
    assert all(not e.is_prefix for e in rec)
    level = [(e.uri, e.is_prefix) for e in client.list(base)]
    assert level == [
        (base + "a/", True),
        (base + "b/", True),
        (base + "c.txt", False),
        (base + "d", False),
    ]
    assert [e.uri for e in client.list(base, True, r"\d$")] == [
        base + n for n in ("a/1", "a/2", "b/x/3")
    ]
    it = client.list(base, recursive=True)
    assert next(it).uri == base + "a/1"  # a generator: nothing listed until asked
    assert list(client.list(base + "nothing-here/", recursive=True)) == []


def test_delete_object_list_and_prefix(client: Client, base: str) -> None:
    names = [f"del/{i}" for i in range(25)] + ["keep/x", "del/sub/y"]
    client.put_many(((base + n, b"x") for n in names), 8)
    client.delete(base + "del/0")
    assert not client.exists(base + "del/0")
    with pytest.raises(s3c.NotFound) as e:
        client.delete(base + "del/0")
    assert e.value.uri == base + "del/0" and "del" in e.value.message
    r = client.delete([base + "del/1", base + "del/2", base + "del/0"])
    assert (r.deleted, r.failed) == (2, 1) and isinstance(r.errors[0], s3c.NotFound)
    r = client.delete(base + "del/", recursive=True, pattern=r"^1\d$")
    assert r.deleted == 10
    left = [e.uri for e in client.list(base, recursive=True)]
    assert base + "del/15" not in left and base + "del/3" in left
    r = client.delete(base + "del/", recursive=True)
    assert r.failed == 0 and r.deleted == 13
    assert [e.uri for e in client.list(base, recursive=True)] == [base + "keep/x"]
    with pytest.raises(ValueError):
        client.delete(base + "x", pattern="y")


def test_buckets_on_s3(client: Client) -> None:
    from conftest import unique

    bucket = f"s3://{unique('pyb')}"
    client.create_bucket(bucket)
    client.create_bucket(bucket)  # existing is fine
    client.put(bucket + "/k", b"v")
    with pytest.raises(s3c.FailedPrecondition) as e:
        client.delete_bucket(bucket)
    assert e.value.uri == bucket
    client.delete(bucket + "/k")
    client.delete_bucket(bucket)
    with pytest.raises(s3c.NotFound):
        client.delete_bucket(bucket)
    with pytest.raises(s3c.NotFound):
        list(client.list(bucket + "/", recursive=True))


def test_buckets_on_files(client: Client, tmp_path: object) -> None:
    d = f"file://{tmp_path}/newdir"
    client.create_bucket(d)
    client.put(d + "/k", b"v")
    with pytest.raises(s3c.FailedPrecondition):
        client.delete_bucket(d)
    client.delete(d + "/k")
    client.delete_bucket(d)
    assert not client.exists(d + "/k")


def test_errors_carry_code_uri_and_message(client: Client, base: str) -> None:
    with pytest.raises(s3c.NotFound) as e:
        client.get(base + "nope")
    err = e.value
    assert isinstance(err, s3c.S3dlioError) and isinstance(err, RuntimeError)
    assert err.code == 5 and err.uri == base + "nope"
    assert err.message.startswith("get " + base + "nope") and str(err) == err.message
    with pytest.raises(s3c.InvalidArgument):
        client.get("nosuchscheme://x/y")
    with pytest.raises(s3c.PermissionDenied):
        client.get("file:///etc/hostname")  # outside the daemon's file roots


def test_unreachable_daemon_is_unavailable(tmp_path: object) -> None:
    c = Client(f"{tmp_path}/no.sock")
    with pytest.raises(s3c.Unavailable) as e:
        c.get("file:///etc/hostname")
    assert "no.sock" in str(e.value)


def test_async_client(daemon: object, base: str) -> None:
    async def main() -> None:
        c = AsyncClient(daemon.socket, arena_size=16 << 20)  # type: ignore[attr-defined]
        await c.put(base + "x", b"async")
        assert (await c.get(base + "x")).to_bytes() == b"async"
        assert (await c.get_range(base + "x", 1, 2)).to_bytes() == b"sy"
        assert await c.exists(base + "x") and not await c.exists(base + "y")
        assert (await c.stat(base + "x")).size == 5
        await c.put_many([(base + f"m{i}", bytes([i])) for i in range(10)], 4)
        got = {u: p.to_bytes() async for u, p in c.get_many([base + f"m{i}" for i in range(10)])}
        assert got == {base + f"m{i}": bytes([i]) for i in range(10)}
        listed = [e.uri async for e in c.list(base, recursive=True)]
        assert len(listed) == 11
        r = await c.delete(base, recursive=True)
        assert r.deleted == 11
        results = await asyncio.gather(*(c.exists(base + f"m{i}") for i in range(10)))
        assert not any(results)

    asyncio.run(main())
