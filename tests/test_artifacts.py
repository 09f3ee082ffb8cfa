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


@pytest.mark.parametrize("url", ["local", "memory://named-files"])
def test_named_files_append_list_and_stay_out_of_the_digests(tmp_path, url):
    store = ArtifactStore(str(tmp_path / "artifacts") if url == "local" else url)
    digest = store.put_bytes(b"model")
    store.append_named("capture/churn/date=2026-12-05/hour=08/a.jsonl", b"one\n")
    store.append_named("capture/churn/date=2026-12-05/hour=08/a.jsonl", b"two\n")
    names = store.list_named("capture/churn")
    assert names == ["capture/churn/date=2026-12-05/hour=08/a.jsonl"]
    # a local folder appends; an object store replaces (its writers name a new file per write)
    expected = b"one\ntwo\n" if store.can_append else b"two\n"
    assert store.read_named(names[0]) == expected
    assert [s.digest for s in store.stored()] == [digest]
    assert store.list_named("capture/other") == []
    for bad in ("../outside", "/etc/passwd", "sha256/ab/cd", ""):
        with pytest.raises(ValueError):
            store.named_key(bad)
