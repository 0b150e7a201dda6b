"""The file object store under the faults the streaming tests inject, one call at a time (real mounts,
no mocks): an unmounted store is "unavailable" (retried), never "not found"; a full file system is
"full"; a repeated copy leaves no temporary file behind."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streams.objectstore import FileObjectStore, ObjectNotFound, StorageFull, StorageUnavailable


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def test_unmounted_store_is_unavailable_and_nothing_lands_under_the_mount_point(tmp_path: Path) -> None:
    disk, root = tmp_path / "disk", tmp_path / "store"
    disk.mkdir()
    root.mkdir()
    _mount("--bind", str(disk), str(root))
    try:
        store = FileObjectStore(root)
        uri = store.put("ingest/job/a", b"object")
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)
    with pytest.raises(StorageUnavailable):
        store.get(uri)
    with pytest.raises(StorageUnavailable):
        store.put("staging/x/b", b"other")
    with pytest.raises(StorageUnavailable):
        store.copy(uri, "clean/a")
    assert list(root.iterdir()) == []  # nothing written to the local disk under the mount point
    _mount("--bind", str(disk), str(root))
    try:
        assert store.get(uri) == b"object"  # back: the same store, the same objects
        with pytest.raises(ObjectNotFound):
            store.get(store.uri("ingest/job/missing"))
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_full_file_system_is_storage_full_and_leaves_no_partial_file(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    _mount("-t", "tmpfs", "-o", "size=64k", "pixelguard-test", str(root))
    try:
        store = FileObjectStore(root)
        with pytest.raises(StorageFull):
            store.put("clean/big", b"x" * 200_000)
        assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [".pixelguard-store"]
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_repeated_copy_leaves_one_object_and_no_temporary_file(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "store")
    uri = store.put("staging/redacted/job/a.dcm", b"redacted")
    for _ in range(3):  # a decision redone (aborted transaction, redelivery) copies again
        store.copy(uri, "clean/out.dcm")
    assert sorted(p.name for p in (tmp_path / "store" / "clean").iterdir()) == ["out.dcm"]
