"""Python client of s3dliod, the node's storage-I/O daemon.

>>> from s3dlio_client import Client
>>> c = Client()
>>> p = c.get("s3://bucket/key")          # a zero-copy view into shared memory
>>> arr = numpy.frombuffer(p, dtype=numpy.uint8)

See docs/python.md for zero-copy rules, fork/spawn behaviour, reconnects, the PyTorch datasets
(``s3dlio_client.torch``) and the s3dlio-compatible functions (``s3dlio_client.compat``).
"""

from __future__ import annotations

from . import errors
from ._native import Payload, default_socket
from .aio import AsyncClient
from .client import (
    Client,
    DeleteResult,
    ObjectInfo,
    ObjectMeta,
    PutResult,
    Request,
)
from .errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    S3dlioError,
    SessionLost,
    Unauthenticated,
    Unavailable,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "Client",
    "DeadlineExceeded",
    "DeleteResult",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "ObjectInfo",
    "ObjectMeta",
    "OutOfRange",
    "Payload",
    "PermissionDenied",
    "PutResult",
    "Request",
    "ResourceExhausted",
    "S3dlioError",
    "SessionLost",
    "Unauthenticated",
    "Unavailable",
    "default_socket",
    "errors",
]
