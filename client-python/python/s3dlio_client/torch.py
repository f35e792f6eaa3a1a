"""PyTorch datasets and checkpoint helpers over s3dliod (needs ``torch``: extra ``[torch]``).

Both datasets are built ``from_prefix(uri, ...)`` (listed once, when built) or
``from_objects(uris, ...)`` and yield ``(uri, payload)``, or ``transform(uri, payload)`` when a
transform is given. The client inside connects lazily in each DataLoader worker (fork or
spawn). A payload that crosses into the main process is pickled as ``bytes`` (a copy): turn
it into a tensor in the transform (``torch.frombuffer``) to keep the zero-copy path.

- :class:`S3dlioMapDataset`: indexable; a DataLoader's sampler (``DistributedSampler`` for
  ranks) shards and shuffles it; ``__getitems__`` fetches each batch through one ``get_many``.
- :class:`S3dlioIterableDataset`: shards itself over distributed ranks and DataLoader workers
  (every object exactly once per epoch), shuffles with ``seed + epoch`` (:meth:`set_epoch`;
  with ``persistent_workers`` the epoch also advances by itself on each pass), and prefetches
  up to ``prefetch`` objects and about ``prefetch_bytes`` bytes through ``get_many``.
"""

from __future__ import annotations

import builtins
import io
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.utils.data as tud

from .client import Client

__all__ = ["S3dlioIterableDataset", "S3dlioMapDataset", "load", "save"]

Transform = Callable[[str, Any], Any]


def _client_of(client: Client | None, options: dict[str, Any]) -> Client:
    return client if client is not None else Client(**options)


def _list_objects(client: Client, uri: str, pattern: str | None) -> builtins.list[str]:
    return [e.uri for e in client.list(uri, recursive=True, pattern=pattern) if not e.is_prefix]


class _Base:
    def __init__(
        self,
        uris: Sequence[str],
        *,
        transform: Transform | None = None,
        client: Client | None = None,
        concurrency: int = 32,
        **client_options: Any,
    ) -> None:
        self.uris = builtins.list(uris)
        self.transform = transform
        self.client = _client_of(client, client_options)
        self.concurrency = concurrency

    @classmethod
    def from_prefix(
        cls,
        uri: str,
        *,
        pattern: str | None = None,
        transform: Transform | None = None,
        client: Client | None = None,
        **options: Any,
    ) -> Any:
        """Every object below ``uri`` (recursively; ``pattern``: a regex on the relative key),
        listed now, in key order. Other options: ``socket``, ``arena_size``, ``name``,
        ``reconnect`` (for the client), and the dataset's own."""
        ds_keys = {
            "shuffle",
            "seed",
            "prefetch",
            "prefetch_bytes",
            "rank",
            "world_size",
            "concurrency",
        }
        ds_opts = {k: v for k, v in options.items() if k in ds_keys}
        client_opts = {k: v for k, v in options.items() if k not in ds_keys}
        c = _client_of(client, client_opts)
        return cls(_list_objects(c, uri, pattern), transform=transform, client=c, **ds_opts)

    @classmethod
    def from_objects(
        cls,
        uris: Iterable[str],
        *,
        transform: Transform | None = None,
        client: Client | None = None,
        **options: Any,
    ) -> Any:
        """These objects, in this order."""
        return cls(builtins.list(uris), transform=transform, client=client, **options)

    def _sample(self, uri: str, payload: Any) -> Any:
        if self.transform is not None:
            return self.transform(uri, payload)
        return uri, payload

    def __len__(self) -> int:
        return len(self.uris)


class S3dlioMapDataset(_Base, tud.Dataset[Any]):
    """Map-style dataset over a list of objects: ``ds[i]`` reads ``uris[i]``."""

    def __getitem__(self, index: int) -> Any:
        uri = self.uris[index]
        return self._sample(uri, self.client.get(uri))

    def __getitems__(self, indices: Sequence[int]) -> builtins.list[Any]:
        # DataLoader's batched fetch: one get_many per batch, results in index order.
        uris = [self.uris[i] for i in indices]
        got = self.client.get_many(uris, ordered=True, concurrency=self.concurrency)
        return [self._sample(u, p) for u, p in got]


class S3dlioIterableDataset(_Base, tud.IterableDataset[Any]):
    """Iterable dataset: each epoch yields every object once across all ranks and workers."""

    def __init__(
        self,
        uris: Sequence[str],
        *,
        transform: Transform | None = None,
        client: Client | None = None,
        shuffle: bool = False,
        seed: int = 0,
        prefetch: int = 64,
        prefetch_bytes: int | None = 16 << 20,
        concurrency: int = 32,
        rank: int | None = None,
        world_size: int | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(
            uris, transform=transform, client=client, concurrency=concurrency, **client_options
        )
        self.shuffle = shuffle
        self.seed = seed
        self.prefetch = prefetch
        self.prefetch_bytes = prefetch_bytes
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._passes = 0  # iterations since the last set_epoch (persistent workers)

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next pass uses (call it before each epoch, as with
        ``DistributedSampler``)."""
        self.epoch = epoch
        self._passes = 0

    def _ranks(self) -> tuple[int, int]:
        if self.rank is not None and self.world_size is not None:
            return self.rank, self.world_size
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def shard(self, epoch: int | None = None) -> builtins.list[str]:
        """The objects this rank and worker read in an epoch, in reading order."""
        order = builtins.list(range(len(self.uris)))
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + (self.epoch if epoch is None else epoch)).shuffle(
                order
            )
        rank, world = self._ranks()
        info = tud.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        part, parts = rank * workers + worker, world * workers
        return [self.uris[i] for i in order[part::parts]]

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch + self._passes
        self._passes += 1
        uris = self.shard(epoch)
        for uri, payload in self.client.get_many(
            uris,
            window=self.prefetch,
            window_bytes=self.prefetch_bytes,
            concurrency=self.concurrency,
        ):
            yield self._sample(uri, payload)


def save(obj: Any, uri: str, *, client: Client | None = None, **client_options: Any) -> None:
    """``torch.save(obj)`` into an object (a state_dict, a whole checkpoint dict...)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    _client_of(client, client_options).put(uri, buf.getbuffer())


def load(
    uri: str,
    *,
    map_location: Any = None,
    weights_only: bool = True,
    client: Client | None = None,
    **client_options: Any,
) -> Any:
    """``torch.load`` of an object written by :func:`save` (or any torch.save file)."""
    payload = _client_of(client, client_options).get(uri)
    with payload:
        data = payload.to_bytes()
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=weights_only)
