import hashlib

import pytest

from kiln.artifacts import ArtifactStore
from kiln.errors import IntegrityError


def test_put_is_content_addressed_and_idempotent(tmp_path):
    store = ArtifactStore(str(tmp_path / "a"))
    digest = store.put_bytes(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert store.put_bytes(b"hello") == digest
    path = store.local_path(digest)
    assert path == tmp_path / "a" / "sha256" / digest[:2] / digest[2:]
    assert store.read_bytes(digest) == b"hello"


def test_a_changed_file_is_refused_with_its_path(tmp_path):
    store = ArtifactStore(str(tmp_path / "a"))
    digest = store.put_bytes(b"model bytes")
    path = store.local_path(digest)
    path.write_bytes(b"evil bytes")
    with pytest.raises(IntegrityError, match=str(path)) as info:
        store.read_bytes(digest, what="model m:1")
    assert info.value.code == "artifact.digest-mismatch"
    assert "model m:1" in info.value.message


def test_a_missing_file_is_refused(tmp_path):
    store = ArtifactStore(str(tmp_path / "a"))
    digest = store.put_bytes(b"x")
    store.local_path(digest).unlink()
    with pytest.raises(IntegrityError, match="missing") as info:
        store.read_bytes(digest)
    assert info.value.code == "artifact.missing"


def test_fsspec_memory_backend_works_the_same(tmp_path):
    store = ArtifactStore("memory://kiln-test-bucket", cache_dir=tmp_path / "cache")
    digest = store.put_bytes(b"remote content")
    assert not store.is_local
    assert store.read_bytes(digest) == b"remote content"
