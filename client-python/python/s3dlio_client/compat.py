"""The s3dlio package's everyday functions, with the same names and signatures, served by
s3dliod: code written for ``s3dlio`` (0.10) runs with ``import s3dlio_client.compat as s3dlio``.

Each call goes through one module-level :class:`~s3dlio_client.Client` (socket from
``S3DLIOD_SOCKET``; :func:`configure` changes it). Failures raise
:class:`~s3dlio_client.S3dlioError`, a ``RuntimeError`` like s3dlio's errors. Differences from
s3dlio are listed in docs/python.md ("compat").
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Union

from . import _native
from .client import Client
from .errors import InvalidArgument, NotFound, OutOfRange, S3dlioError

__all__ = [
    "BytesView",
    "configure",
    "create_bucket",
    "delete",
    "delete_bucket",
    "download",
    "exists",
    "get",
    "get_many",
    "get_range",
    "list",
    "put",
    "put_bytes",
    "stat",
    "upload",
]

#: What :func:`get` returns: a zero-copy view with ``memoryview()`` and ``to_bytes()``.
BytesView = _native.Payload

_builtin_list = list
_client: Client | None = None

#: s3dlio's default object size for :func:`put` (20 MiB).
DEFAULT_PUT_SIZE = 20 * 1024 * 1024


class _CopiedView:
    """A BytesView look-alike over bytes in process memory (empty ranges, and the results of
    :func:`get_many` beyond what the arena can hold)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def memoryview(self) -> memoryview:
        return memoryview(self._data)

    def to_bytes(self) -> bytes:
        return self._data

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"BytesView({len(self._data)} bytes)"


View = Union[_native.Payload, _CopiedView]


def configure(**client_options: Any) -> Client:
    """Replaces the module's client (``socket=``, ``arena_size=``, ``name=`` ... as for
    :class:`~s3dlio_client.Client`) and returns it."""
    global _client
    _client = Client(**client_options)
    return _client


def client() -> Client:
    """The module's client, made on first use."""
    global _client
    if _client is None:
        _client = Client(name="s3dlio-compat")
    return _client


def _bucket_uri(name: str) -> str:
    return name if "://" in name else f"s3://{name}"


def get(uri: str) -> View:
    """The whole object, as a zero-copy BytesView."""
    return client().get(uri)


def get_range(uri: str, offset: int, length: int | None = None) -> View:
    """``length`` bytes from ``offset`` (None: to the end); past the end, or ``length=0``, is
    empty (as in s3dlio)."""
    if length == 0:
        return _CopiedView(b"")
    try:
        return client().get_range(uri, offset, length)
    except OutOfRange:
        return _CopiedView(b"")


def get_many(uris: Iterable[str], max_in_flight: int = 64) -> _builtin_list[tuple[str, View]]:
    """``[(uri, BytesView)]`` in input order; the first failure raises.

    Results stay zero-copy views while they fit in half of the arena; later ones are copied
    into process memory, so a list larger than the arena cannot stall the daemon.
    """
    c = client()
    budget = c.connection.arena_size // 2
    held = 0
    out: _builtin_list[tuple[str, View]] = []
    for uri, p in c.get_many(uris, ordered=True, concurrency=max_in_flight):
        if held + len(p) > budget:
            copied = _CopiedView(p.to_bytes())
            p.release()
            out.append((uri, copied))
        else:
            held += len(p)
            out.append((uri, p))
    return out


def put_bytes(uri: str, data: Any) -> None:
    """Writes ``data`` (bytes or any buffer) to ``uri``."""
    client().put(uri, data)


def put(
    prefix: str,
    num: int,
    template: str | None = None,
    max_in_flight: int = 64,
    size: int | None = None,
    should_create_bucket: bool = False,
    object_type: str = "zeros",
    dedup_factor: int = 1,
    compress_factor: int = 1,
    data_gen_algorithm: str = "random",
    data_gen_mode: str = "streaming",
    chunk_size: int = 262144,
) -> None:
    """Writes ``num`` generated objects named ``prefix + template.format(i, num)`` (template
    default ``"object-{}"``), each of ``size`` bytes (default 20 MiB), pseudo-random data made
    by the daemon. ``dedup_factor``/``compress_factor`` other than 1 are refused (the daemon
    generates incompressible, unique data only); the remaining generator knobs are accepted
    and have no effect."""
    if dedup_factor != 1 or compress_factor != 1:
        raise InvalidArgument(
            "put: dedup_factor and compress_factor other than 1 are not supported by s3dliod",
            prefix,
        )
    del object_type, data_gen_algorithm, data_gen_mode, chunk_size
    c = client()
    if should_create_bucket:
        scheme, _, rest = prefix.partition("://")
        if scheme in ("s3", "gs", "gcs"):
            c.create_bucket(f"{scheme}://{rest.split('/', 1)[0]}")
        else:
            c.create_bucket(prefix)
    name = template or "object-{}"
    nbytes = DEFAULT_PUT_SIZE if size is None else size
    uris = [prefix + name.format(i, num) for i in range(num)]
    with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, num or 1))) as pool:
        for _ in pool.map(lambda u: c.put_generated(u, nbytes, 0), uris):
            pass


def list(uri: str, recursive: bool = False, pattern: str | None = None) -> _builtin_list[str]:
    """URIs below a prefix (one level: deeper levels as ``.../`` entries), sorted."""
    return [e.uri for e in client().list(uri, recursive, pattern)]


_STAT_NONE_KEYS = (
    "content_language",
    "content_encoding",
    "cache_control",
    "content_disposition",
    "expires",
    "server_side_encryption",
    "ssekms_key_id",
    "sse_customer_algorithm",
    "version_id",
    "replication_status",
)


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    secs, frac = divmod(ns, 1_000_000_000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac:09d}Z" if frac else "Z")


def stat(uri: str) -> dict[str, Any]:
    """Metadata as s3dlio's dict: ``size``, ``last_modified`` (RFC 3339), ``etag``,
    ``content_type`` and the other keys s3dlio returns (None where s3dliod has nothing)."""
    m = client().stat(uri)
    out: dict[str, Any] = {
        "size": m.size,
        "last_modified": _iso(m.last_modified_ns),
        "etag": m.etag or None,
        "content_type": m.content_type or None,
    }
    out.update(dict.fromkeys(_STAT_NONE_KEYS))
    out["storage_class"] = "STANDARD"
    out["metadata"] = {}
    return out


def exists(uri: str) -> bool:
    """True if the object exists; False otherwise, and on any failure (as s3dlio)."""
    try:
        client().stat(uri)
    except Exception:
        return False
    return True


def delete(uri: str, recursive: bool = False) -> None:
    """Deletes one object (missing is success), or with ``recursive=True`` the object ``uri``
    and everything below ``uri/`` (never ``uri`` + other characters, as in s3dlio)."""
    c = client()
    if not recursive:
        with contextlib.suppress(NotFound):
            c.delete(uri)
        return
    errors: _builtin_list[S3dlioError] = []
    if not uri.endswith("/"):
        with contextlib.suppress(NotFound):
            c.delete(uri)
        prefix = uri + "/"
    else:
        prefix = uri
    result = c.delete(prefix, recursive=True)
    errors.extend(e for e in result.errors if not isinstance(e, NotFound))
    if errors:
        raise errors[0]


def upload(
    src_patterns: str | Iterable[str],
    dest_prefix: str,
    max_in_flight: int = 32,
    create_bucket: bool = False,
) -> None:
    """Uploads local files matching glob patterns to ``dest_prefix + basename``."""
    patterns = [src_patterns] if isinstance(src_patterns, str) else _builtin_list(src_patterns)
    files = sorted({f for p in patterns for f in glob.glob(p) if os.path.isfile(f)})
    if not files:
        raise NotFound(f"upload: no local file matches {patterns}", None)
    c = client()
    if create_bucket:
        scheme, _, rest = dest_prefix.partition("://")
        c.create_bucket(f"{scheme}://{rest.split('/', 1)[0]}" if scheme == "s3" else dest_prefix)
    dest = dest_prefix if dest_prefix.endswith("/") else dest_prefix + "/"

    def one(path: str) -> None:
        with open(path, "rb") as f:
            c.put(dest + os.path.basename(path), f.read())

    with ThreadPoolExecutor(max_workers=max(1, max_in_flight)) as pool:
        for _ in pool.map(one, files):
            pass


def download(src_uri: str, dest_dir: str, max_in_flight: int = 64, recursive: bool = True) -> None:
    """Downloads every object below ``src_uri`` into ``dest_dir``, keeping the relative
    paths (one level only with ``recursive=False``); a URI naming one object downloads it."""
    c = client()
    entries = [e for e in c.list(src_uri, recursive) if not e.is_prefix]
    base = src_uri if src_uri.endswith("/") else src_uri.rsplit("/", 1)[0] + "/"
    if not entries:
        c.stat(src_uri)  # raises NotFound for a missing object
        entries_uris = [src_uri]
    else:
        entries_uris = [e.uri for e in entries]
    os.makedirs(dest_dir, exist_ok=True)

    def one(uri: str) -> None:
        rel = uri[len(base) :] if uri.startswith(base) else uri.rsplit("/", 1)[-1]
        path = os.path.join(dest_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        p = c.get(uri)
        with p, open(path, "wb") as f:
            mv = memoryview(p)
            f.write(mv)
            mv.release()

    with ThreadPoolExecutor(max_workers=max(1, max_in_flight)) as pool:
        for _ in pool.map(one, entries_uris):
            pass


def create_bucket(bucket_name: str) -> None:
    """Creates a bucket: a bare name is an S3 bucket; a URI (``file:///dir``...) is used as is."""
    client().create_bucket(_bucket_uri(bucket_name))


def delete_bucket(bucket_name: str) -> None:
    """Deletes an empty bucket (a bare name is an S3 bucket)."""
    client().delete_bucket(_bucket_uri(bucket_name))
