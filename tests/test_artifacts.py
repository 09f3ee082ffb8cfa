import hashlib

import pytest

from kiln.artifacts import ArtifactStore
from kiln.errors import ConfigError, IntegrityError


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path) -> str:
    """An empty artifact store: a local folder, or a fresh bucket on an S3 server on loopback."""
    if request.param == "s3":
        return request.getfixturevalue("s3_url")
    return str(tmp_path / "a")


def another_machine(store: ArtifactStore, tmp_path) -> ArtifactStore:
    """The same store opened with an empty cache, as another machine of the team opens it."""
    return ArtifactStore(store.url, cache_dir=tmp_path / "other-cache")


def overwrite(store: ArtifactStore, digest: str, data: bytes | None) -> None:
    """Change (or, with None, delete) the stored file behind kiln's back."""
    key = store._key(digest)
    if data is None:
        store.fs.rm_file(key)
    else:
        store.fs.pipe_file(key, data)


def test_put_is_content_addressed_and_idempotent(store_url, tmp_path):
    store = ArtifactStore(store_url, cache_dir=tmp_path / "cache")
    digest = store.put_bytes(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert store.put_bytes(b"hello") == digest
    assert store.exists(digest) and [s.digest for s in store.stored()] == [digest]
    path = store.local_path(digest)
    if store.is_local:
        assert path == tmp_path / "a" / "sha256" / digest[:2] / digest[2:]
    else:
        assert path == tmp_path / "cache" / digest
    assert store.read_bytes(digest) == b"hello"
    assert another_machine(store, tmp_path).read_bytes(digest) == b"hello"


def test_a_changed_file_is_refused_with_its_path(store_url, tmp_path):
    store = ArtifactStore(store_url, cache_dir=tmp_path / "cache")
    digest = store.put_bytes(b"model bytes")
    overwrite(store, digest, b"evil bytes")
    reader = store if store.is_local else another_machine(store, tmp_path)
    where = store._key(digest) if store.is_local else f"s3://{store._key(digest)}"
    for _ in range(2):  # refused each time: a refused download is not kept in the cache
        with pytest.raises(IntegrityError) as info:
            reader.read_bytes(digest, what="model m:1")
        assert info.value.code == "artifact.digest-mismatch"
        assert "model m:1" in info.value.message and where in info.value.message
    if not store.is_local:
        assert list((tmp_path / "other-cache").iterdir()) == []


def test_a_missing_file_is_refused(store_url, tmp_path):
    store = ArtifactStore(store_url, cache_dir=tmp_path / "cache")
    digest = store.put_bytes(b"x")
    overwrite(store, digest, None)
    reader = store if store.is_local else another_machine(store, tmp_path)
    with pytest.raises(IntegrityError, match="missing") as info:
        reader.read_bytes(digest)
    assert info.value.code == "artifact.missing"


def test_fsspec_memory_backend_works_the_same(tmp_path):
    store = ArtifactStore("memory://kiln-test-bucket", cache_dir=tmp_path / "cache")
    digest = store.put_bytes(b"remote content")
    assert not store.is_local
    assert store.read_bytes(digest) == b"remote content"


@pytest.mark.parametrize("url", ["local", "memory://named-files", "s3"])
def test_named_files_append_list_and_stay_out_of_the_digests(tmp_path, url, request):
    if url == "s3":
        url = request.getfixturevalue("s3_url")
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


def test_an_unreachable_s3_store_fails_fast_naming_it_without_the_secret(
    s3_environment, monkeypatch, tmp_path
):
    from helpers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = ArtifactStore("s3://team-bucket/kiln", cache_dir=tmp_path / "cache")
    for action in (lambda: store.put_bytes(b"x"), lambda: store.read_bytes("ab" * 32)):
        with pytest.raises(ConfigError) as info:
            action()
        assert info.value.code == "artifacts.unavailable"
        message = info.value.message
        assert f"'s3://team-bucket/kiln' (endpoint {endpoint})" in message
        assert "AWS_ENDPOINT_URL" in message and "KILN_ARTIFACTS_URL" in message
        assert s3_environment["AWS_SECRET_ACCESS_KEY"] not in message
