"""The synchronous client: one connection and arena per process, made on first use."""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from . import _native
from .errors import FailedPrecondition, NotFound, S3dlioError, SessionLost, Unavailable, error_for

__all__ = [
    "Client",
    "Payload",
    "ObjectInfo",
    "ObjectMeta",
    "PutResult",
    "DeleteResult",
    "Request",
    "as_bytes_view",
]

Payload = _native.Payload
T = TypeVar("T")

#: A get_many request: a URI, or ``(uri, offset, length)`` with ``length`` None for "to the end".
Request = Union[str, tuple[str, int, Union[int, None]]]


@dataclass(frozen=True)
class ObjectInfo:
    """One listing entry. ``is_prefix`` entries (one-level listings) end with ``/``."""

    uri: str
    size: int
    is_prefix: bool = False
    last_modified_ns: int | None = None


@dataclass(frozen=True)
class ObjectMeta:
    uri: str
    size: int
    last_modified_ns: int | None
    etag: str
    content_type: str


@dataclass(frozen=True)
class PutResult:
    uri: str
    size: int
    etag: str


@dataclass(frozen=True)
class DeleteResult:
    """Totals of a delete; ``errors`` holds one exception per key that failed."""

    listed: int
    deleted: int
    failed: int
    errors: builtins.list[S3dlioError]


def as_bytes_view(data: Any) -> memoryview:
    """A flat byte view of any buffer (bytes, bytearray, memoryview, numpy array, Payload...)."""
    if isinstance(data, str):
        raise TypeError("put needs bytes or a buffer, not str (encode it first)")
    mv = memoryview(data)
    if mv.format == "B" and mv.ndim == 1 and mv.c_contiguous:
        return mv
    if mv.c_contiguous:
        return mv.cast("B")
    return memoryview(mv.tobytes())


#: Codes a broken connection can show as (CANCELLED, UNKNOWN, INTERNAL, UNAVAILABLE).
_TRANSPORT_CODES = frozenset({1, 2, 13, 14})


def _is_arena_lost(e: S3dlioError) -> bool:
    return isinstance(e, FailedPrecondition) and "needs an arena" in e.message


class Client:
    """A client of the node's s3dliod.

    Connects lazily, in the process that first uses it: a ``Client`` made before a fork (or
    pickled into a spawned DataLoader worker) connects again in each process and never uses
    the parent's connection or arena.

    ``socket``: the daemon's Unix socket (default ``S3DLIOD_SOCKET``, else the system default).
    ``arena_size``: bytes of shared memory to ask for (0: the daemon's default, 256 MiB); every
    payload held counts against it. ``name``: shown in ``s3dlioctl sessions``.
    ``reconnect``: after a daemon restart, connect again and retry the call once (else raise
    :class:`SessionLost`), waiting up to ``reconnect_timeout`` seconds for the daemon to listen
    again. ``threads``: runtime threads of the connection.
    """

    def __init__(
        self,
        socket: str | os.PathLike[str] | None = None,
        arena_size: int = 0,
        name: str | None = None,
        reconnect: bool = True,
        threads: int = 2,
        reconnect_timeout: float = 10.0,
    ) -> None:
        self.socket = os.fspath(socket) if socket is not None else None
        self.arena_size = arena_size
        self.name = name
        self.reconnect = reconnect
        self.threads = threads
        self.reconnect_timeout = reconnect_timeout
        self._reset(None)

    def _reset(self, pid: int | None) -> None:
        # A fresh lock too: one inherited through fork may have been held by a parent thread.
        self._lock = threading.Lock()
        self._pid = pid
        self._conn: _native.Connection | None = None
        self.reconnects = 0

    # Pickling (spawned DataLoader workers) carries the settings, never the connection.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "socket": self.socket,
            "arena_size": self.arena_size,
            "name": self.name,
            "reconnect": self.reconnect,
            "threads": self.threads,
            "reconnect_timeout": self.reconnect_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset(None)

    def __repr__(self) -> str:
        return f"Client(socket={self.socket!r}, name={self.name!r})"

    # -- connection management -------------------------------------------------------------

    def _connection(self) -> _native.Connection:
        pid = os.getpid()
        if self._pid != pid:
            # First use, or a forked child: the parent's connection (if any) is dropped here,
            # which the native side turns into a leak, never a shutdown of the parent's.
            self._reset(pid)
        conn = self._conn
        if conn is None:
            with self._lock:
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
        return conn

    def _connect(self) -> _native.Connection:
        return _native.Connection(self.socket, self.name, self.arena_size, self.threads)

    def _session_lost(self, conn: _native.Connection, e: S3dlioError) -> bool:
        """Whether ``e`` means this connection's session is gone (daemon restarted)."""
        if _is_arena_lost(e):
            return True
        if e.code not in _TRANSPORT_CODES:
            return False
        # A broken connection shows as UNAVAILABLE, or UNKNOWN/INTERNAL/CANCELLED from the
        # HTTP/2 layer mid-stream; UNAVAILABLE is also what a backend that cannot be reached
        # gives. Ask the daemon whether it is still the one this connection's session lives in.
        try:
            pid, started, *_ = conn.status()
        except S3dlioError:
            return True
        return (pid, started) != (conn.daemon_pid, conn.daemon_started_ns)

    def _replace(self, stale: _native.Connection, cause: S3dlioError) -> _native.Connection:
        if not self.reconnect:
            raise SessionLost(
                f"the connection to s3dliod at {stale.socket} lost its session (the daemon "
                f"restarted?); this client has reconnect=False: {cause.message}",
                cause.uri,
            ) from cause
        with self._lock:
            if self._conn is stale or self._conn is None:
                self._conn = None
                self._conn = self._connect_retrying()
                self.reconnects += 1
            return self._conn

    def _connect_retrying(self) -> _native.Connection:
        # A restarting daemon takes a moment to listen again: retry for reconnect_timeout s.
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.02
        while True:
            try:
                return self._connect()
            except Unavailable:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _call(self, fn: Callable[[_native.Connection], T]) -> T:
        conn = self._connection()
        try:
            return fn(conn)
        except S3dlioError as e:
            if not self._session_lost(conn, e):
                raise
            return fn(self._replace(conn, e))

    def close(self) -> None:
        """Drops this process's connection (and arena, once no payload holds it)."""
        if self._pid == os.getpid():
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------------

    def get(self, uri: str) -> _native.Payload:
        """The whole object as a :class:`Payload` (zero-copy view into shared memory)."""
        return self._call(lambda c: c.get(uri))

    def get_range(self, uri: str, offset: int, length: int | None = None) -> _native.Payload:
        """``length`` bytes (None: to the end) from ``offset``."""
        return self._call(lambda c: c.get_range(uri, offset, length))

    def get_many(
        self,
        uris: Iterable[Request],
        *,
        ordered: bool = False,
        window: int | None = None,
        window_bytes: int | None = None,
        concurrency: int = 64,
        return_exceptions: bool = False,
    ) -> Iterator[tuple[str, _native.Payload]]:
        """Reads many objects, yielding ``(uri, payload)``.

        In completion order by default; ``ordered=True`` yields in input order. At most
        ``window`` requests (default ``2 × concurrency``) are outstanding, i.e. sent and not yet
        yielded, so memory stays bounded however long ``uris`` is (it is consumed lazily).
        ``window_bytes`` bounds them in bytes too: the window shrinks to about
        ``window_bytes / mean payload size`` once payloads arrive (it starts at
        ``min(window, 8)``), so large objects keep few, hot arena pages in use and small ones
        keep many requests in flight. A failed object raises its exception (ending the
        iteration), or with ``return_exceptions=True`` is yielded as ``(uri, exception)``.
        """
        if window_bytes is not None and window_bytes < 1:
            raise ValueError(f"get_many: window_bytes must be positive, got {window_bytes}")
        return _GetMany(
            self,
            uris,
            ordered,
            window or 2 * concurrency,
            window_bytes,
            concurrency,
            return_exceptions,
        )

    def list(
        self, uri: str, recursive: bool = False, pattern: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Entries below a prefix, sorted by key, streamed as the daemon lists."""
        it = self._call(lambda c: c.list(uri, recursive, pattern))
        for u, is_prefix, size, ts in it:
            yield ObjectInfo(u, size, is_prefix, ts)

    def stat(self, uri: str) -> ObjectMeta:
        return ObjectMeta(*self._call(lambda c: c.stat(uri)))

    def exists(self, uri: str) -> bool:
        """True if the object exists; False if not found (other errors raise)."""
        try:
            self.stat(uri)
        except NotFound:
            return False
        return True

    # -- writes ----------------------------------------------------------------------------

    def put(self, uri: str, data: Any) -> PutResult:
        """Writes an object from any buffer (bytes, bytearray, memoryview, numpy array...)."""
        view = as_bytes_view(data)
        return PutResult(*self._call(lambda c: c.put(uri, view)))

    def put_generated(self, uri: str, size: int, seed: int = 0) -> PutResult:
        """Writes ``size`` pseudo-random bytes generated by the daemon (deterministic per URI
        and seed)."""
        return PutResult(*self._call(lambda c: c.put_generated(uri, size, seed)))

    def put_many(
        self, items: Iterable[tuple[str, Any]], max_in_flight: int = 16
    ) -> builtins.list[PutResult]:
        """Writes ``(uri, data)`` pairs, ``max_in_flight`` at a time; results in input order.
        The first failure raises (after the puts in flight finish)."""
        with ThreadPoolExecutor(max_workers=max(1, max_in_flight)) as pool:
            return list(pool.map(lambda item: self.put(item[0], item[1]), items))

    def delete(
        self,
        uri_or_prefix: str | Sequence[str],
        recursive: bool = False,
        pattern: str | None = None,
    ) -> DeleteResult:
        """Deletes an object, a list of objects, or (``recursive=True``) everything below a
        prefix whose key relative to it matches ``pattern`` (a regex, searched).

        A single object that is missing raises :class:`NotFound`; for lists and prefixes the
        failures are in ``DeleteResult.errors``.
        """
        if isinstance(uri_or_prefix, str):
            if recursive:
                prefix = uri_or_prefix
                raw = self._call(lambda c: c.delete_prefix(prefix, pattern))
            else:
                if pattern is not None:
                    raise ValueError("pattern needs recursive=True")
                one = [uri_or_prefix]
                raw = self._call(lambda c: c.delete_objects(one))
        else:
            if recursive or pattern is not None:
                raise ValueError("recursive/pattern apply to a prefix, not a list of URIs")
            many = list(uri_or_prefix)
            raw = self._call(lambda c: c.delete_objects(many))
        listed, deleted, failed, errs = raw
        errors = [error_for(code, msg, u) for u, code, msg in errs]
        if isinstance(uri_or_prefix, str) and not recursive and errors:
            raise errors[0]
        return DeleteResult(listed, deleted, failed, errors)

    def create_bucket(self, uri: str) -> None:
        """Creates a bucket (``s3://name``), container or directory; existing is fine."""
        self._call(lambda c: c.create_bucket(uri))

    def delete_bucket(self, uri: str) -> None:
        """Deletes an empty bucket, container or directory."""
        self._call(lambda c: c.delete_bucket(uri))

    # -- admin -----------------------------------------------------------------------------

    def status(self) -> dict[str, int]:
        pid, started, sessions, arenas, arena_bytes, in_use = self._call(lambda c: c.status())
        return {
            "pid": pid,
            "started_ns": started,
            "sessions": sessions,
            "arenas": arenas,
            "arena_bytes": arena_bytes,
            "arena_in_use": in_use,
        }

    def sessions(self) -> builtins.list[dict[str, Any]]:
        rows = self._call(lambda c: c.sessions())
        keys = ("id", "pid", "name", "arena_size", "arena_in_use")
        return [dict(zip(keys, r)) for r in rows]

    @property
    def connection(self) -> _native.Connection:
        """This process's connection (connecting if needed)."""
        return self._connection()


def _normalise(r: Request) -> tuple[str, int | None, int | None]:
    if isinstance(r, str):
        return r, None, None
    uri, offset, length = r
    return uri, offset, length


#: How long an ordered get_many waits before it suspects that early results fill the arena.
_STALL_MS = 200


class _GetMany:
    """The iterator behind :meth:`Client.get_many`: feeds requests as results are taken."""

    def __init__(
        self,
        client: Client,
        uris: Iterable[Request],
        ordered: bool,
        window: int,
        window_bytes: int | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> None:
        self._client = client
        self._source = enumerate(_normalise(r) for r in uris)
        self._ordered = ordered
        self._max_window = max(1, window)
        self._window_bytes = window_bytes
        # With a byte budget, start small: the first payloads tell how large objects are.
        self._window = self._max_window if window_bytes is None else min(self._max_window, 8)
        self._seen = 0  # payloads received, and their bytes (for the byte budget)
        self._seen_bytes = 0
        self._concurrency = concurrency
        self._return_exceptions = return_exceptions
        self._outstanding: dict[int, tuple[str, int | None, int | None]] = {}
        self._ready: dict[int, tuple[str, Any]] = {}
        self._next_tag = 0  # ordered: the tag to yield next
        self._exhausted = False
        self._conn: _native.Connection | None = None
        self._gm: _native.GetMany | None = None
        #: How many times early results were dropped and fetched again (ordered mode).
        self.refetched = 0
        self._done = False

    def __iter__(self) -> _GetMany:
        return self

    def _start(self) -> None:
        conn = self._client._connection()
        try:
            gm = conn.get_many(self._concurrency)
        except S3dlioError as e:
            if not self._client._session_lost(conn, e):
                raise
            conn = self._client._replace(conn, e)
            gm = conn.get_many(self._concurrency)
        self._conn, self._gm = conn, gm
        # After a reconnect, ask again for everything not yet answered.
        for tag, (uri, off, length) in sorted(self._outstanding.items()):
            if tag not in self._ready:
                gm.push(tag, uri, off, length)
        self._fill()

    def _fill(self) -> None:
        assert self._gm is not None
        while not self._exhausted and len(self._outstanding) < self._window:
            try:
                tag, req = next(self._source)
            except StopIteration:
                # The request stream stays open: an ordered call may ask again for early
                # results it gave back. It ends when every request is answered.
                self._exhausted = True
                break
            self._outstanding[tag] = req
            try:
                self._gm.push(tag, *req)
            except RuntimeError:
                # The call broke; next() reports why, and a reconnect asks again for every
                # outstanding request, this one included.
                break

    def _next(self) -> tuple[int, Any, Any] | None:
        assert self._gm is not None
        if not (self._ordered and self._ready):
            return self._gm.next()
        # In input order, results that came early wait here, holding arena space. If the one
        # due next waits for space that only they hold, nothing moves: after a pause, give
        # their space back and ask for them again (the daemon serves waiting fetches first
        # come, first served, so the due one gets the space).
        while True:
            try:
                return self._gm.next(_STALL_MS)
            except TimeoutError:
                if not self._ready:
                    return self._gm.next()
                for tag in sorted(self._ready):
                    del self._ready[tag]
                    uri, off, length = self._outstanding[tag]
                    self._gm.push(tag, uri, off, length)
                self.refetched += 1

    def _pull(self) -> tuple[int, Any] | None:
        """One result from the daemon, reconnecting once per failure if the session is lost."""
        assert self._gm is not None and self._conn is not None
        try:
            got = self._next()
            if got is None and self._outstanding:
                raise Unavailable(
                    f"get_many: the call ended with {len(self._outstanding)} requests unanswered"
                )
        except S3dlioError as e:
            if not self._client._session_lost(self._conn, e):
                raise
            self._client._replace(self._conn, e)
            self._gm = None
            self._start()
            assert self._gm is not None
            got = self._next()
        if got is None:
            return None
        tag, payload, exc = got
        return tag, payload if exc is None else exc

    def __next__(self) -> tuple[str, Any]:
        if self._done:
            raise StopIteration
        if self._gm is None:
            self._start()
        while True:
            if self._ordered and self._next_tag in self._ready:
                tag = self._next_tag
                self._next_tag += 1
                return self._emit(tag, self._ready.pop(tag)[1])
            if not self._outstanding and self._exhausted:
                self.close()
                raise StopIteration
            got = self._pull()
            if got is None:
                raise S3dlioError("get_many: the call ended with requests unanswered")
            tag, result = got
            if self._ordered:
                self._ready[tag] = (self._outstanding[tag][0], result)
                continue
            return self._emit(tag, result)

    def _emit(self, tag: int, result: Any) -> tuple[str, Any]:
        uri = self._outstanding.pop(tag)[0]
        if self._window_bytes is not None and not isinstance(result, BaseException):
            self._seen += 1
            self._seen_bytes += len(result)
            mean = max(1, self._seen_bytes // self._seen)
            self._window = max(1, min(self._max_window, self._window_bytes // mean))
        self._fill()
        if isinstance(result, S3dlioError) and not self._return_exceptions:
            self.close()
            raise result
        return uri, result

    def close(self) -> None:
        """Stops the call; results not yet taken are dropped (their space released)."""
        if self._gm is not None:
            self._gm.close()
        self._gm = None
        self._done = True
        self._ready.clear()
        self._outstanding.clear()
        self._exhausted = True

    def __del__(self) -> None:
        self._ready.clear()
