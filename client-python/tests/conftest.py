"""Fixtures: the real s3dliod binary on a temporary socket, configured for local files and for
the S3 test server (SeaweedFS) that tests/servers/start.sh starts.

Nothing is mocked and nothing skips: a missing binary or server variable fails the test with
the command that provides it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import signal
import socket as socketlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3dlio_client import Client

REPO = Path(__file__).resolve().parents[2]
_counter = itertools.count()


def server_var(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: these tests need the real S3 server; run `bash tests/run.sh`, "
            "or `bash tests/servers/start.sh` and source .test-servers/env"
        )
    return value


def daemon_binary() -> Path:
    path = Path(os.environ.get("S3DLIO_TEST_DAEMON_BIN", REPO / "target" / "debug" / "s3dliod"))
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `cargo build --workspace --bins`")
    return path


def s3_config() -> str:
    # Local files only below the temporary directory: anything else is PERMISSION_DENIED.
    root = os.path.realpath(tempfile.gettempdir())
    return f"""
[file]
roots = ["{root}"]

[s3]
endpoint = "{server_var("S3DLIO_TEST_SEAWEED_ENDPOINT")}"
region = "us-east-1"
force_path_style = true
access_key_id = "{server_var("S3DLIO_TEST_S3_ACCESS_KEY")}"
secret_access_key = "{server_var("S3DLIO_TEST_S3_SECRET_KEY")}"
"""


class Daemon:
    """A running s3dliod (killed by stop()); restart() starts a new process on the same socket."""

    def __init__(self, config: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="s3dliod-py-"))
        self.socket = str(self.dir / "s3dliod.sock")
        self.config = self.dir / "config.toml"
        self.config.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self.start()

    def start(self) -> None:
        assert self.proc is None
        log = self.dir / f"daemon-{len(self.logs)}.log"
        self.logs.append(log)
        env = {k: v for k, v in os.environ.items() if k != "S3DLIOD_SOCKET"}
        env["RUST_LOG"] = "info"
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [str(daemon_binary()), "--socket", self.socket, "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=f,
                env=env,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"s3dliod exited before serving:\n{log.read_text()}")
            try:
                with socketlib.socket(socketlib.AF_UNIX) as s:
                    s.connect(self.socket)
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"s3dliod did not serve within 30 s:\n{log.read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    d = Daemon(s3_config())
    yield d
    d.close()


@pytest.fixture
def fresh_daemon() -> Iterator[Daemon]:
    """A daemon of the test's own, which the test may stop and restart."""
    d = Daemon(s3_config())
    yield d
    d.close()


@pytest.fixture
def client(daemon: Daemon) -> Client:
    return Client(daemon.socket, arena_size=64 << 20, name="pytest")


def unique(tag: str) -> str:
    return f"{tag}-{os.getpid()}-{next(_counter)}-{time.time_ns() & 0xFFFFFF:x}"


@pytest.fixture(scope="session")
def s3_bucket(daemon: Daemon) -> Iterator[str]:
    c = Client(daemon.socket, name="pytest-bucket")
    bucket = f"s3://{unique('py')}"
    c.create_bucket(bucket)
    yield bucket
    c.delete(bucket + "/", recursive=True)
    c.delete_bucket(bucket)


@pytest.fixture(params=["file", "s3"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URI prefix (ending in /) to write under, on each backend."""
    if request.param == "file":
        return f"file://{tmp_path}/"
    bucket = request.getfixturevalue("s3_bucket")
    return f"{bucket}/{unique('t')}/"


def pattern_bytes(n: int, seed: int) -> bytes:
    """Deterministic test bytes, different per seed."""
    return random.Random(seed).randbytes(n)


def sha(data: object) -> str:
    return hashlib.sha256(memoryview(data)).hexdigest()  # type: ignore[arg-type]
