"""Content-addressed files over fsspec: a local folder and ``s3://bucket/prefix`` work the same.

A file lives at ``sha256/ab/cdef...`` under the root. Every read checks the content against the
digest the caller recorded in the metadata store, and refuses a changed or missing file.

Beside them, named files live under other prefixes (``capture/...``: what endpoints captured):
appended to and listed by name, never content-addressed, and never seen by garbage collection,
which looks under ``sha256/`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec

from kiln.errors import ConfigError, IntegrityError

__all__ = ["ArtifactStore", "StoredFile", "sha256_file"]

_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Per protocol, what fsspec's filesystem is opened with. S3: an endpoint that does not answer
# fails within seconds (botocore's default retries with backoff and a 60 s connect timeout make
# one call hang for a minute); throttling and 5xx answers are still retried. Each store gets a
# filesystem of its own: fsspec's shared instance would keep the endpoint and credentials it
# read from the environment first, and its listings, after either changed.
_OPTIONS: dict[str, dict] = {
    "s3": {
        "config_kwargs": {"connect_timeout": 5, "retries": {"max_attempts": 2, "mode": "standard"}},
        "skip_instance_cache": True,
    },
}


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the object store could not be reached or refused the credentials."""
    if isinstance(exc, ConnectionError | TimeoutError | PermissionError):
        return True
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # s3fs (kiln[s3]) is not installed: no S3 error to recognise
        return False
    return isinstance(exc, BotoCoreError)


def _without_password(url: str) -> str:
    """``url`` as it may be shown: a password in it (``//user:password@``) becomes ``***``."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    key: str
    digest: str | None  # None: not a digest (a temporary file left by a crash)
    size: int
    modified: float  # seconds since the epoch


class ArtifactStore:
    """Put and get immutable files by SHA-256 digest."""

    def __init__(self, url: str, *, cache_dir: Path | None = None):
        self.url = url.rstrip("/")
        protocol = self.url.split("://", 1)[0] if "://" in self.url else "file"
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **_OPTIONS.get(protocol, {}))
        self.is_local = (
            self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol
        )
        self._cache_dir = cache_dir

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn "the object store does not answer" (or refuses these credentials) into
        ``artifacts.unavailable``, naming the store; other errors pass through as they are."""
        try:
            yield
        except (IntegrityError, FileNotFoundError):
            raise
        except Exception as exc:
            if self.is_local or not _unreachable(exc):
                raise
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            where = f" (endpoint {_without_password(endpoint)})" if endpoint else ""
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"Cannot reach the artifact store {_without_password(self.url)!r}{where}: "
                f"{reason}. Check that the object store answers (AWS_ENDPOINT_URL for an "
                "S3-compatible server), that the credentials are set (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or an AWS profile), and that KILN_ARTIFACTS_URL (or "
                "artifacts_url in kiln.toml) names the bucket.",
                code="artifacts.unavailable",
            ) from exc

    def _key(self, digest: str) -> str:
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:]}"

    def put_file(self, path: str | os.PathLike) -> str:
        """Store a file; returns its digest. Storing the same content twice is a no-op."""
        digest = sha256_file(path)
        key = self._key(digest)
        with self._reaching():
            if self.fs.exists(key):
                return digest
            self._put_whole(path, key)
        return digest

    def _put_whole(self, path: str | os.PathLike, key: str) -> None:
        """Copy a local file to ``key``, never leaving it half-written."""
        self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        if self.is_local:
            # Copy then rename, so a crash never leaves a half-written file under the key.
            tmp = f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, key)
        else:
            # An object appears whole when its upload completes: no half-written object.
            self.fs.put_file(str(path), key)

    def put_bytes(self, data: bytes) -> str:
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        try:
            return self.put_file(handle.name)
        finally:
            os.unlink(handle.name)

    def local_path(self, digest: str, *, what: str = "artifact") -> Path:
        """A local path to the verified content (remote files are copied to the cache first)."""
        key = self._key(digest)
        if self.is_local:
            path = Path(key)
            if not path.exists():
                raise self._missing(what, digest, str(path))
            self._verify(path, digest, what=what, where=str(path))
            return path
        cache = self._cache_dir or Path(tempfile.gettempdir()) / "kiln-cache"
        path = cache / digest
        where = f"{self.fs.unstrip_protocol(key)}"
        if path.exists():
            self._verify(path, digest, what=what, where=f"{where} (cached at {path})")
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Downloaded beside, checked, then renamed: the cache only ever holds verified copies.
        tmp = path.with_name(f"{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with self._reaching():
                if not self.fs.exists(key):
                    raise self._missing(what, digest, where)
                self.fs.get_file(key, str(tmp))
            self._verify(tmp, digest, what=what, where=where)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @staticmethod
    def _verify(path: Path, digest: str, *, what: str, where: str) -> None:
        actual = sha256_file(path)
        if actual != digest:
            raise IntegrityError(
                f"The {what} file {where} was changed after it was stored: its SHA-256 is "
                f"{actual[:12]}…, the store recorded {digest[:12]}…. kiln refuses to load it. "
                "Restore the file from a backup, or re-create the record (re-ingest or retrain).",
                code="artifact.digest-mismatch",
            )

    def read_bytes(self, digest: str, *, what: str = "artifact") -> bytes:
        path = self.local_path(digest, what=what)
        data = path.read_bytes()
        # Check the bytes we return, not only the file we looked at: it could change in between.
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(
                f"The {what} file {path} changed while it was being read. Try again.",
                code="artifact.digest-mismatch",
            )
        return data

    def stored(self) -> list[StoredFile]:
        """Every file under the store's root: digests, and temporary files a crash left."""
        base = f"{self.root}/sha256"
        with self._reaching():
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base, detail=True)
        out = []
        for key, info in found.items():
            *_, prefix, name = key.split("/")
            modified = info.get("mtime") or info.get("LastModified") or info.get("created")
            if hasattr(modified, "timestamp"):
                modified = modified.timestamp()
            digest = prefix + name
            out.append(
                StoredFile(
                    key=key,
                    digest=digest if _HEX64.fullmatch(digest) else None,
                    size=int(info.get("size") or 0),
                    modified=float(modified or 0.0),
                )
            )
        return out

    def remove(self, key: str) -> None:
        """Delete one stored file by its key (from :meth:`stored`); gone already is fine."""
        with self._reaching(), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(key)

    def exists(self, digest: str) -> bool:
        with self._reaching():
            return self.fs.exists(self._key(digest))

    # -- named files (not content-addressed) -----------------------------------------------------
    def named_key(self, name: str) -> str:
        """The full key of the named file ``name`` (``capture/churn/...``) under the root."""
        if not name or name.startswith("/") or ".." in name.split("/") or name.startswith("sha256"):
            raise ValueError(f"Not a named file's key: {name!r}")
        return f"{self.root}/{name}"

    def append_named(self, name: str, data: bytes) -> None:
        """Add ``data`` at the end of the named file (created with its folders if missing).

        An object store cannot append: there each call writes ``name`` whole, so callers give a
        new name per call there (see :attr:`can_append`).
        """
        key = self.named_key(name)
        with self._reaching():
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
            if self.can_append:
                with open(key, "ab") as handle:
                    handle.write(data)
            else:
                self.fs.pipe_file(key, data)

    def put_named(self, name: str, path: str | os.PathLike) -> str:
        """Store the local file ``path`` as the named file ``name``, replacing it whole (never
        half-written: a local copy is renamed into place, an object appears when its upload
        completes); returns the file's URL."""
        key = self.named_key(name)
        with self._reaching():
            self._put_whole(path, key)
        return self.fs.unstrip_protocol(key)

    @property
    def can_append(self) -> bool:
        """Whether :meth:`append_named` adds to a file (a local folder) or replaces it."""
        return self.is_local

    def list_named(self, prefix: str) -> list[str]:
        """The names of the named files under ``prefix``, sorted; none when it does not exist."""
        base = self.named_key(prefix.rstrip("/"))
        with self._reaching():
            if not self.fs.exists(base):
                return []
            keys = self.fs.find(base)
        start = len(self.root) + 1
        return sorted(key[start:] for key in keys)

    def read_named(self, name: str) -> bytes:
        """The content of a named file."""
        with self._reaching():
            return self.fs.cat_file(self.named_key(name))

    @staticmethod
    def _missing(what: str, digest: str, where: str) -> IntegrityError:
        return IntegrityError(
            f"The {what} file {where} (SHA-256 {digest[:12]}…) is missing from the artifact store. "
            "Restore it from a backup, or re-create the record (re-ingest or retrain).",
            code="artifact.missing",
        )
