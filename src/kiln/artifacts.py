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
from dataclasses import dataclass
from pathlib import Path

import fsspec

from kiln.errors import IntegrityError

__all__ = ["ArtifactStore", "StoredFile", "sha256_file"]

_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


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
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = (
            self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol
        )
        self._cache_dir = cache_dir

    def _key(self, digest: str) -> str:
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:]}"

    def put_file(self, path: str | os.PathLike) -> str:
        """Store a file; returns its digest. Storing the same content twice is a no-op."""
        digest = sha256_file(path)
        key = self._key(digest)
        if self.fs.exists(key):
            return digest
        self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        if self.is_local:
            # Copy then rename, so a crash never leaves a half-written file under its digest.
            tmp = f"{key}.{os.getpid()}.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, key)
        else:
            self.fs.put_file(str(path), key)
        return digest

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
        else:
            cache = self._cache_dir or Path(tempfile.gettempdir()) / "kiln-cache"
            path = cache / digest
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                if not self.fs.exists(key):
                    raise self._missing(what, digest, key)
                self.fs.get_file(key, str(path))
        if not path.exists():
            raise self._missing(what, digest, str(path))
        actual = sha256_file(path)
        if actual != digest:
            raise IntegrityError(
                f"The {what} file {path} was changed after it was stored: its SHA-256 is "
                f"{actual[:12]}…, the store recorded {digest[:12]}…. kiln refuses to load it. "
                "Restore the file from a backup, or re-create the record (re-ingest or retrain).",
                code="artifact.digest-mismatch",
            )
        return path

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
        if not self.fs.exists(base):
            return []
        out = []
        for key, info in self.fs.find(base, detail=True).items():
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
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(key)

    def exists(self, digest: str) -> bool:
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
        self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        if self.can_append:
            with open(key, "ab") as handle:
                handle.write(data)
        else:
            self.fs.pipe_file(key, data)

    @property
    def can_append(self) -> bool:
        """Whether :meth:`append_named` adds to a file (a local folder) or replaces it."""
        return self.is_local

    def list_named(self, prefix: str) -> list[str]:
        """The names of the named files under ``prefix``, sorted; none when it does not exist."""
        base = self.named_key(prefix.rstrip("/"))
        if not self.fs.exists(base):
            return []
        start = len(self.root) + 1
        return sorted(key[start:] for key in self.fs.find(base))

    def read_named(self, name: str) -> bytes:
        """The content of a named file."""
        return self.fs.cat_file(self.named_key(name))

    @staticmethod
    def _missing(what: str, digest: str, where: str) -> IntegrityError:
        return IntegrityError(
            f"The {what} file {where} (SHA-256 {digest[:12]}…) is missing from the artifact store. "
            "Restore it from a backup, or re-create the record (re-ingest or retrain).",
            code="artifact.missing",
        )
