"""Exceptions raised by s3dlio_client, one class per gRPC status code.

Every error carries the URI it is about (``.uri``, ``None`` when the call had none), the gRPC
code (``.code``, an int) and the daemon's one-line message (``.message``: ``"<op> <uri>:
<reason> (<backend's own words>)"``).
"""

from __future__ import annotations

__all__ = [
    "S3dlioError",
    "Cancelled",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
    "SessionLost",
]


class S3dlioError(RuntimeError):
    """Base class: a call to s3dliod failed. A ``RuntimeError``, as the s3dlio package
    raises, so code written for it keeps catching these."""

    code: int = 2  # UNKNOWN

    def __init__(self, message: str, uri: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uri = uri
        if code is not None:
            self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions cross process boundaries (DataLoader workers): keep uri and code.
        return (type(self), (self.message, self.uri, self.code))


class Cancelled(S3dlioError):
    code = 1


class InvalidArgument(S3dlioError, ValueError):
    code = 3


class DeadlineExceeded(S3dlioError):
    code = 4


class NotFound(S3dlioError, KeyError):
    code = 5

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class AlreadyExists(S3dlioError):
    code = 6


class PermissionDenied(S3dlioError):
    code = 7


class ResourceExhausted(S3dlioError):
    code = 8


class FailedPrecondition(S3dlioError):
    code = 9


class Aborted(S3dlioError):
    code = 10


class OutOfRange(S3dlioError, IndexError):
    code = 11


class Unimplemented(S3dlioError):
    code = 12


class Internal(S3dlioError):
    code = 13


class Unavailable(S3dlioError):
    code = 14


class DataLoss(S3dlioError):
    code = 15


class Unauthenticated(S3dlioError):
    code = 16


class SessionLost(Unavailable):
    """The daemon restarted (or the connection broke): this client's session and arena are
    gone. Raised only with ``reconnect=False``; with ``reconnect=True`` the client connects
    again and retries the call once."""


_BY_CODE: dict[int, type[S3dlioError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_for(code: int, message: str, uri: str | None = None) -> S3dlioError:
    """The exception for a gRPC status code."""
    return _BY_CODE.get(code, S3dlioError)(message, uri, code)


def _from_native(code: int, message: str, uri: str | None) -> S3dlioError:
    # Called by the native module to build its exceptions.
    return error_for(code, message, uri)
