"""Fork and spawn safety, and daemon restarts while a client is in use."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest
import s3dlio_client as s3c
from conftest import Daemon, pattern_bytes, sha
from s3dlio_client import Client


def test_forked_child_uses_its_own_connection(client: Client, base: str) -> None:
    client.put(base + "f", b"forked")
    p = client.get(base + "f")
    parent_conn = client.connection
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the exit code, never raise out of pytest
        code = 0
        try:
            os.close(r)
            try:
                memoryview(p)
                code |= 1  # the parent's payload must not be readable here
            except BufferError:
                pass
            q = client.get(base + "f")
            if q.to_bytes() != b"forked":
                code |= 2
            if client.connection is parent_conn or client.connection.pid != os.getpid():
                code |= 4
            pids = {s["pid"] for s in client.sessions()}
            if os.getpid() not in pids:
                code |= 8
            del p, q  # forgotten (p) and released into the child's own arena (q)
            os.write(w, b"ok")
        except BaseException:
            code |= 16
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 2) == b"ok"
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection, arena and payload are untouched by the child's exit.
    assert client.connection is parent_conn
    assert bytes(p) == b"forked" and client.get(base + "f").to_bytes() == b"forked"
    assert os.getpid() in {s["pid"] for s in client.sessions()}


def _spawned(client: Client, uri: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    q.put((client.get(uri).to_bytes(), client.connection.pid == os.getpid()))


def test_client_pickles_into_a_spawned_process(client: Client, base: str) -> None:
    client.put(base + "s", b"spawned")
    client.get(base + "s")  # connected in the parent first
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_spawned, args=(client, base + "s", q))
    proc.start()
    got = q.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0 and got == (b"spawned", True)


def test_reconnects_after_a_daemon_restart(fresh_daemon: Daemon, tmp_path: object) -> None:
    base = f"file://{tmp_path}/"
    c = Client(fresh_daemon.socket, arena_size=8 << 20)
    c.put(base + "x", b"before")
    old = c.get(base + "x")
    first = c.connection
    fresh_daemon.restart()
    # The old session and arena are gone; the call reconnects and is retried once.
    assert c.get(base + "x").to_bytes() == b"before"
    assert c.reconnects == 1 and c.connection is not first
    assert c.connection.daemon_pid == fresh_daemon.pid
    assert bytes(old) == b"before", "a payload from before the restart stays readable"
    del old
    # Calls that need no arena go through on the channel (which dials the new daemon);
    # the next shared-memory read reconnects.
    fresh_daemon.restart()
    c.put(base + "y", b"after")
    assert c.stat(base + "y").size == 5
    assert [e.uri for e in c.list(base)] == [base + "x", base + "y"]
    assert c.get(base + "y").to_bytes() == b"after"
    assert c.reconnects == 2


def test_without_reconnect_a_restart_is_a_clear_error(
    fresh_daemon: Daemon, tmp_path: object
) -> None:
    base = f"file://{tmp_path}/"
    c = Client(fresh_daemon.socket, reconnect=False)
    c.put(base + "x", b"x")
    c.get(base + "x")
    fresh_daemon.restart()
    with pytest.raises(s3c.SessionLost, match="reconnect=False"):
        c.get(base + "x")
    fresh_daemon.stop()
    with pytest.raises(s3c.Unavailable):
        Client(fresh_daemon.socket).get(base + "x")


def test_get_many_survives_a_restart_mid_stream(fresh_daemon: Daemon, tmp_path: object) -> None:
    base = f"file://{tmp_path}/"
    c = Client(fresh_daemon.socket, arena_size=8 << 20)
    blobs = {f"{base}{i:03}": pattern_bytes(20_000 + i, i) for i in range(200)}
    c.put_many(blobs.items(), 8)
    for ordered in (False, True):
        seen: dict[str, str] = {}
        for n, (u, p) in enumerate(c.get_many(blobs, ordered=ordered, window=16, concurrency=4)):
            assert u not in seen
            seen[u] = sha(p)
            if n == 50:
                fresh_daemon.restart()
        assert seen == {u: sha(d) for u, d in blobs.items()}
    assert c.reconnects == 2
