"""s3dlio_client.compat against the real s3dlio 0.10.0 package, over the same file:// data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3dlio
import s3dlio_client.compat as compat
from conftest import Daemon, pattern_bytes

NAMES = ["a.bin", "b/c.bin", "b/d/e.bin", "f", "empty"]


@pytest.fixture
def data(daemon: Daemon, tmp_path: Path) -> Iterator[str]:
    compat.configure(socket=daemon.socket, arena_size=32 << 20)
    for i, n in enumerate(NAMES):
        p = tmp_path / "src" / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"" if n == "empty" else pattern_bytes(5000 + 1000 * i, i))
    yield f"file://{tmp_path}/src/"


def test_same_signatures_as_s3dlio() -> None:
    import inspect

    for name in compat.__all__:
        if name in ("configure", "BytesView"):
            continue
        ours = inspect.signature(getattr(compat, name))
        theirs = inspect.signature(getattr(s3dlio, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()
        ], name


def test_get_get_range_get_many_match(data: str) -> None:
    for n in NAMES:
        ours, theirs = compat.get(data + n), s3dlio.get(data + n)
        assert ours.to_bytes() == theirs.to_bytes()
        assert bytes(ours.memoryview()) == bytes(theirs.memoryview()) and len(ours) == len(theirs)
    for off, length in [(0, 10), (100, None), (4990, 100), (4999, 1), (10**6, None), (7, 0)]:
        assert (
            compat.get_range(data + "a.bin", off, length).to_bytes()
            == s3dlio.get_range(data + "a.bin", off, length).to_bytes()
        ), (off, length)
    uris = [data + n for n in NAMES] * 3
    ours_many = [(u, v.to_bytes()) for u, v in compat.get_many(uris, max_in_flight=4)]
    theirs_many = [(u, v.to_bytes()) for u, v in s3dlio.get_many(uris, max_in_flight=4)]
    # s3dlio returns them as they complete; compat in input order (one of those orders).
    assert [u for u, _ in ours_many] == uris
    assert sorted(ours_many) == sorted(theirs_many)
    with pytest.raises(RuntimeError):
        compat.get(data + "missing")
    with pytest.raises(RuntimeError):
        s3dlio.get(data + "missing")


def test_get_many_beyond_the_arena_copies_instead_of_stalling(daemon: Daemon, data: str) -> None:
    compat.configure(socket=daemon.socket, arena_size=64 << 10)
    uris = [data + "b/d/e.bin"] * 40  # 7 KB each, 280 KB in all through a 64 KiB arena
    got = compat.get_many(uris)
    assert [v.to_bytes() for _, v in got] == [s3dlio.get(u).to_bytes() for u in uris]


def test_list_stat_exists_match(data: str) -> None:
    for uri, rec, pat in [
        (data, False, None),
        (data, True, None),
        (data, True, r"\.bin$"),
        (data + "b/", False, None),
        (data + "b", True, None),
        (data + "nothing/", True, None),
    ]:
        ours_list = compat.list(uri, rec, pat)
        assert ours_list == sorted(ours_list), "compat lists in key order"
        assert ours_list == sorted(s3dlio.list(uri, rec, pat)), (uri, rec, pat)
    ours, theirs = compat.stat(data + "a.bin"), s3dlio.stat(data + "a.bin")
    assert set(ours) == set(theirs)
    assert ours["size"] == theirs["size"] and ours["last_modified"] == theirs["last_modified"]
    assert ours["content_type"] == theirs["content_type"]
    for u in (data + "a.bin", data + "missing", data + "b/", "file:///nonexistent/x"):
        assert compat.exists(u) == s3dlio.exists(u), u
    with pytest.raises(RuntimeError):
        compat.stat(data + "missing")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_writes_match(data: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for tag, mod in (("ours", compat), ("theirs", s3dlio)):
        out = f"file://{tmp_path}/{tag}/"
        mod.put_bytes(out + "pb/x", b"put-bytes")  # type: ignore[attr-defined]
        mod.put(out + "gen/", 3, size=1000)  # type: ignore[attr-defined]
        mod.put(out + "tpl/", 2, template="obj_{}_of_{}.bin", size=10)  # type: ignore[attr-defined]
        mod.upload([str(src / "a.bin"), str(src / "b" / "*")], out + "up/")  # type: ignore[attr-defined]
        mod.download(data, str(tmp_path / f"{tag}-dl"))  # type: ignore[attr-defined]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert sorted(_tree(ours)) == sorted(_tree(theirs))
    for rel, body in _tree(theirs).items():
        if rel.startswith(("gen", "tpl")):  # generated: same names and sizes, random bytes
            assert len(_tree(ours)[rel]) == len(body), rel
        else:
            assert _tree(ours)[rel] == body, rel
    assert _tree(tmp_path / "ours-dl") == _tree(tmp_path / "theirs-dl") == _tree(src)


def test_delete_matches(data: str, tmp_path: Path) -> None:
    for tag, mod in (("ours", compat), ("theirs", s3dlio)):
        root = tmp_path / tag
        for n in ["foo/x", "foo/y/z", "foobar", "keep"]:
            p = root / n
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(n.encode())
        base = f"file://{root}/"
        mod.delete(base + "keep")  # type: ignore[attr-defined]
        mod.delete(base + "missing")  # type: ignore[attr-defined]
        mod.delete(base + "foo/", recursive=True)  # type: ignore[attr-defined]
    assert _tree(tmp_path / "ours") == _tree(tmp_path / "theirs") == {"foobar": b"foobar"}
    # Without the trailing "/" (s3dlio's file backend refuses it): foo and foo/..., not foobar.
    (tmp_path / "ours" / "foo" / "q").write_bytes(b"q")
    compat.delete(f"file://{tmp_path}/ours/foo", recursive=True)
    assert _tree(tmp_path / "ours") == {"foobar": b"foobar"}


def test_buckets_on_s3(s3_bucket: str) -> None:
    from conftest import unique

    name = unique("compat")
    compat.create_bucket(name)
    compat.put_bytes(f"s3://{name}/k", b"v")
    assert compat.list(f"s3://{name}/", recursive=True) == [f"s3://{name}/k"]
    compat.delete(f"s3://{name}/k")
    compat.delete_bucket(name)
    assert not compat.exists(f"s3://{name}/k")
    assert os.environ.get("S3DLIO_TEST_SEAWEED_ENDPOINT")
