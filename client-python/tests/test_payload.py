"""Zero copy and release semantics of payloads in the shared-memory arena."""

from __future__ import annotations

import gc
import hashlib
import warnings

import numpy as np
import pytest
import torch
from conftest import Daemon, pattern_bytes, sha
from s3dlio_client import Client

MiB = 1 << 20


def in_use(c: Client) -> int:
    """Bytes of this client's arena held by payloads (the daemon drains releases first)."""
    me = c.connection
    rows = [s for s in c.sessions() if s["pid"] == me.pid and s["arena_size"] == me.arena_size]
    assert len(rows) == 1, rows
    return int(rows[0]["arena_in_use"])


def test_numpy_and_torch_views_are_zero_copy(client: Client, base: str) -> None:
    data = np.arange(MiB // 4, dtype=np.float32)
    client.put(base + "z", data)
    p = client.get(base + "z")
    arr = np.frombuffer(p, dtype=np.float32)
    assert arr.base.obj is p, "numpy views the payload's own buffer, not a copy"
    assert np.frombuffer(p, dtype=np.uint8).ctypes.data == arr.ctypes.data, "one address"
    assert not arr.flags.writeable
    mv = memoryview(p)
    assert mv.readonly and mv.nbytes == data.nbytes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "buffer is not writable"
        t = torch.frombuffer(p, dtype=torch.float32)
    assert t.data_ptr() == arr.ctypes.data, "torch sees the same bytes in place"
    # numpy and memoryview hold buffer exports; torch.frombuffer gives its export back at
    # once and keeps a reference to the payload instead (so release() cannot see tensors).
    assert p.exports == 2
    assert np.array_equal(arr, data) and torch.equal(t, torch.from_numpy(data))
    del mv, arr
    gc.collect()
    assert p.exports == 0
    # The tensor alone keeps the payload (and its arena space) alive.
    del p
    gc.collect()
    assert in_use(client) == MiB
    assert torch.equal(t, torch.from_numpy(data))
    del t
    gc.collect()
    assert in_use(client) == 0
    p = client.get(base + "z")
    with pytest.raises(TypeError, match="not writable"):
        _writable(p)


def _writable(p: object) -> None:
    import ctypes

    ctypes.c_char.from_buffer(p)  # asks for a writable buffer


def test_array_stays_intact_while_the_arena_is_under_pressure(daemon: Daemon, base: str) -> None:
    # A 4 MiB arena; one 1 MiB payload kept only through a numpy array, then 60 other 1 MiB
    # objects read and dropped: the arena is reused around the kept payload, never over it.
    c = Client(daemon.socket, arena_size=4 * MiB)
    kept = pattern_bytes(MiB, 99)
    c.put(base + "kept", kept)
    c.put_many(((f"{base}other/{i}", pattern_bytes(MiB, i)) for i in range(12)), 4)
    arr = np.frombuffer(c.get(base + "kept"), dtype=np.uint8)  # the payload lives in arr.base
    want = hashlib.sha256(kept).hexdigest()
    assert in_use(c) == MiB
    for round_ in range(5):
        for i, (u, p) in enumerate(
            c.get_many([f"{base}other/{i}" for i in range(12)], ordered=True)
        ):
            assert sha(p) == sha(pattern_bytes(MiB, i)), (round_, u)
        assert hashlib.sha256(arr.tobytes()).hexdigest() == want
    del p
    gc.collect()
    assert in_use(c) == MiB, "only the kept payload holds space"
    del arr
    gc.collect()
    assert in_use(c) == 0, "the last view gone, its space is back"


def test_release_semantics(client: Client, base: str) -> None:
    client.put(base + "r", b"0123456789")
    p = client.get(base + "r")
    mv = memoryview(p)
    with pytest.raises(BufferError, match="view"):
        p.release()
    assert not p.released and mv.tobytes() == b"0123456789"
    mv.release()
    p.release()
    assert p.released
    p.release()  # twice is a no-op
    with pytest.raises(BufferError):
        memoryview(p)
    with pytest.raises(ValueError):
        p.to_bytes()
    assert in_use(client) == 0
    with client.get(base + "r") as q:
        assert bytes(q) == b"0123456789"
        assert in_use(client) > 0
    assert q.released and in_use(client) == 0
    # Views keep the payload alive after the last reference to it is gone.
    view = memoryview(client.get(base + "r"))
    gc.collect()
    assert view.tobytes() == b"0123456789" and in_use(client) > 0
    del view
    gc.collect()
    assert in_use(client) == 0
    # Releasing inside a context manager with a view alive raises, and keeps the bytes valid.
    with pytest.raises(BufferError), client.get(base + "r") as q2:
        kept = memoryview(q2)
    assert kept.tobytes() == b"0123456789"


def test_payload_metadata(client: Client, base: str) -> None:
    client.put(base + "m", b"abcdef")
    p = client.get_range(base + "m", 2, 3)
    assert (p.uri, p.offset, p.nbytes, p.object_size) == (base + "m", 2, 3, 6)
    assert p.etag == client.stat(base + "m").etag
    assert "Payload(" in repr(p) and p.memoryview().tobytes() == b"cde"
