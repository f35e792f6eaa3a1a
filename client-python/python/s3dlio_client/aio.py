"""asyncio variant: the same calls as :class:`Client`, awaited. Each call runs the blocking
native call in a worker thread (the native call releases the GIL while it waits)."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from . import _native
from .client import Client, DeleteResult, ObjectInfo, ObjectMeta, PutResult, Request

__all__ = ["AsyncClient"]

_END = object()


class AsyncClient:
    """``await``-able :class:`Client`; takes the same arguments."""

    def __init__(
        self,
        socket: str | os.PathLike[str] | None = None,
        arena_size: int = 0,
        name: str | None = None,
        reconnect: bool = True,
        threads: int = 2,
    ) -> None:
        self.sync = Client(socket, arena_size, name, reconnect, threads)

    async def get(self, uri: str) -> _native.Payload:
        return await asyncio.to_thread(self.sync.get, uri)

    async def get_range(self, uri: str, offset: int, length: int | None = None) -> _native.Payload:
        return await asyncio.to_thread(self.sync.get_range, uri, offset, length)

    async def get_many(
        self,
        uris: Iterable[Request],
        *,
        ordered: bool = False,
        window: int | None = None,
        window_bytes: int | None = None,
        concurrency: int = 64,
        return_exceptions: bool = False,
    ) -> AsyncIterator[tuple[str, Any]]:
        it = self.sync.get_many(
            uris,
            ordered=ordered,
            window=window,
            window_bytes=window_bytes,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
        )
        while True:
            item = await asyncio.to_thread(next, it, _END)
            if item is _END:
                return
            assert isinstance(item, tuple)
            yield item

    async def list(
        self, uri: str, recursive: bool = False, pattern: str | None = None
    ) -> AsyncIterator[ObjectInfo]:
        it = self.sync.list(uri, recursive, pattern)
        while True:
            item = await asyncio.to_thread(next, it, _END)
            if item is _END:
                return
            assert isinstance(item, ObjectInfo)
            yield item

    async def stat(self, uri: str) -> ObjectMeta:
        return await asyncio.to_thread(self.sync.stat, uri)

    async def exists(self, uri: str) -> bool:
        return await asyncio.to_thread(self.sync.exists, uri)

    async def put(self, uri: str, data: Any) -> PutResult:
        return await asyncio.to_thread(self.sync.put, uri, data)

    async def put_many(
        self, items: Iterable[tuple[str, Any]], max_in_flight: int = 16
    ) -> builtins.list[PutResult]:
        sem = asyncio.Semaphore(max(1, max_in_flight))

        async def one(uri: str, data: Any) -> PutResult:
            async with sem:
                return await self.put(uri, data)

        return list(await asyncio.gather(*(one(u, d) for u, d in items)))

    async def delete(
        self,
        uri_or_prefix: str | Sequence[str],
        recursive: bool = False,
        pattern: str | None = None,
    ) -> DeleteResult:
        return await asyncio.to_thread(self.sync.delete, uri_or_prefix, recursive, pattern)

    async def create_bucket(self, uri: str) -> None:
        await asyncio.to_thread(self.sync.create_bucket, uri)

    async def delete_bucket(self, uri: str) -> None:
        await asyncio.to_thread(self.sync.delete_bucket, uri)
