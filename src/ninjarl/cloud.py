"""Run directories in S3 (or any S3-compatible store): upload with a manifest, pull back.

``s3://bucket/prefix`` is where one directory lives: each file under it at
``prefix/<relative path>``, and ``prefix/manifest.json`` listing every file's path, size and
sha256. The manifest is written last, so a complete manifest means a complete upload.

Uploading never changes the local directory (it only reads it). A file is skipped when the
object under its key already has the same size and sha256 (the sha256 travels as object
metadata and in the previous manifest), so running an interrupted upload again sends only
what is missing. Large files go in parts (``TransferConfig``); each request is retried with
backoff by botocore, and :func:`upload_run` retries a failed upload once more after a pause.

Credentials, region and retry settings come only from the standard AWS chain (environment
variables, ``~/.aws/config`` and ``~/.aws/credentials``, instance roles); the endpoint is
``endpoint`` when given, else the chain's (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``).
Every failure is an :class:`S3Error` with a one-line message.

Hidden entries (names starting with ``.``) are not uploaded: they are the temporary files and
directories of :mod:`ninjarl.atomic`, never part of a finished run.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from .atomic import write_with

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "ninjarl-s3-manifest"
#: files from this size on are sent in parts of PART_SIZE (S3's smallest part is 5 MiB)
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
#: a failed upload is tried this many times in all by :func:`upload_run`, pausing in between
UPLOAD_PASSES = 2
RETRY_PAUSE_S = 5.0
_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class S3Error(OSError):
    """An S3 operation failed; the message is one line."""


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: the place of one directory."""
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", url)
        if not match:
            raise S3Error(f"{url}: not an S3 URL (expected s3://bucket/prefix)")
        return cls(match.group(1), (match.group(2) or "").strip("/"))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


@dataclass(frozen=True)
class FileEntry:
    """One manifest line."""
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TransferResult:
    """What an upload or pull did: relative paths sent (or fetched) and skipped."""
    transferred: list[str]
    skipped: list[str]


@dataclass(frozen=True)
class PartSizes:
    """When files are split into parts, and how large the parts are."""
    threshold: int = MULTIPART_THRESHOLD
    part_size: int = PART_SIZE


def make_client(endpoint: str | None = None):
    """An S3 client from the standard AWS chain (``endpoint`` replaces the chain's)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)
    return boto3.session.Session().client("s3", endpoint_url=endpoint or None, config=config)


def check_access(url: str, endpoint: str | None = None) -> None:
    """Raise :class:`S3Error` unless the bucket of ``url`` exists and these credentials reach
    it (called before a long job, so that a typo fails at once rather than at the end)."""
    location = S3Location.parse(url)
    client = make_client(endpoint)
    _call(location, lambda: client.head_bucket(Bucket=location.bucket))


def describe(path: Path, relative: str) -> FileEntry:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return FileEntry(relative, path.stat().st_size, digest.hexdigest())


def local_files(directory: Path) -> list[str]:
    """Relative POSIX paths of the files to upload, sorted (hidden entries and a top-level
    manifest excluded)."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if relative.as_posix() != MANIFEST:
            found.append(relative.as_posix())
    return found


def upload_dir(directory: str | Path, url: str, endpoint: str | None = None,
               parts: PartSizes = PartSizes(),
               log: Callable[[str], None] | None = None) -> TransferResult:
    """Upload every file of ``directory`` under ``url`` that is not there yet with the same
    sha256, then the manifest (unless the one there is identical)."""
    from boto3.s3.transfer import TransferConfig

    directory = Path(directory)
    if not directory.is_dir():
        raise S3Error(f"{directory}: not a directory")
    location = S3Location.parse(url)
    client = make_client(endpoint)
    _call(location, lambda: client.head_bucket(Bucket=location.bucket))
    previous = read_manifest(client, location)
    remote_sizes = _remote_sizes(client, location)
    transfer = TransferConfig(multipart_threshold=parts.threshold,
                              multipart_chunksize=parts.part_size)
    entries, sent, skipped = [], [], []
    for relative in local_files(directory):
        entry = describe(directory / relative, relative)
        entries.append(entry)
        key = location.key(relative)
        if remote_sizes.get(key) == entry.size and (
                previous.get(relative) == entry
                or _remote_sha256(client, location, key) == entry.sha256):
            skipped.append(relative)
            continue
        _call(location, partial(client.upload_file, str(directory / relative), location.bucket,
                                key, Config=transfer,
                                ExtraArgs={"Metadata": {"sha256": entry.sha256}}),
              f"upload of {relative}")
        sent.append(relative)
        if log:
            log(f"uploaded {relative} ({entry.size:,} bytes)")
    if sorted(previous.values(), key=lambda e: e.path) != entries:
        document = {"format": MANIFEST_FORMAT, "version": 1,
                    "files": [vars(e) for e in entries]}
        body = (json.dumps(document, indent=2) + "\n").encode()
        _call(location, lambda: client.put_object(
            Bucket=location.bucket, Key=location.key(MANIFEST), Body=body,
            ContentType="application/json"), f"upload of {MANIFEST}")
    return TransferResult(sent, skipped)


def upload_run(directory: str | Path, url: str, endpoint: str | None = None,
               passes: int = UPLOAD_PASSES, parts: PartSizes = PartSizes(),
               log: Callable[[str], None] = print) -> TransferResult:
    """:func:`upload_dir`, tried ``passes`` times with a pause (:data:`RETRY_PAUSE_S`, doubling)
    in between; each pass skips what an earlier one sent. Raises the last :class:`S3Error`."""
    pause_s = RETRY_PAUSE_S
    for attempt in range(1, passes + 1):
        try:
            result = upload_dir(directory, url, endpoint, parts)
        except S3Error as error:
            if attempt == passes:
                raise
            log(f"upload to {url} failed ({error}); trying again in {pause_s:.0f} s")
            time.sleep(pause_s)
            pause_s *= 2
        else:
            log(f"uploaded {directory} to {url}: {len(result.transferred)} files sent, "
                f"{len(result.skipped)} already there")
            return result
    raise AssertionError("unreachable: passes >= 1")


def read_manifest(client, location: S3Location) -> dict[str, FileEntry]:
    """The manifest under ``location`` as {path: entry}; empty when there is none. A malformed
    one is an error (it is ours, so something else wrote it)."""
    try:
        body = _call(location, lambda: _get_bytes(client, location, MANIFEST))
    except _Missing:
        return {}
    where = f"{location.url}/{MANIFEST}"
    try:
        document = json.loads(body)
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format is not {MANIFEST_FORMAT!r}")
        entries = [FileEntry(str(f["path"]), f["size"], f["sha256"]) for f in document["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise S3Error(f"{where}: not a valid manifest: {error}") from None
    for entry in entries:
        _check_entry(entry, where)
    return {e.path: e for e in entries}


def pull(url: str, destination: str | Path, endpoint: str | None = None,
         log: Callable[[str], None] | None = None) -> TransferResult:
    """Fetch the directory uploaded under ``url`` into ``destination``, checking every file's
    size and sha256 against the manifest (a file is written atomically, only once it matches).
    Files already in ``destination`` with the right content are kept; one with other content
    is an error, before anything is fetched."""
    location = S3Location.parse(url)
    client = make_client(endpoint)
    _call(location, lambda: client.head_bucket(Bucket=location.bucket))
    manifest = read_manifest(client, location)
    if not manifest:
        raise S3Error(f"{location.url}: no {MANIFEST} there (nothing uploaded, or the upload "
                      "did not finish; run it again)")
    destination = Path(destination)
    wanted, present = [], []
    for entry in manifest.values():
        target = destination / entry.path
        if not target.exists():
            wanted.append(entry)
        elif target.is_file() and describe(target, entry.path) == entry:
            present.append(entry.path)
        else:
            raise S3Error(f"{target}: differs from {location.url}/{entry.path}; pull into a "
                          "new directory")
    for entry in wanted:
        write_with(destination / entry.path,
                   lambda f, entry=entry: _download(client, location, entry, f))
        if log:
            log(f"fetched {entry.path} ({entry.size:,} bytes)")
    return TransferResult([e.path for e in wanted], present)


def _download(client, location: S3Location, entry: FileEntry, f) -> None:
    where = f"{location.url}/{entry.path}"

    def fetch() -> tuple[int, str]:
        body = client.get_object(Bucket=location.bucket, Key=location.key(entry.path))["Body"]
        digest, size = hashlib.sha256(), 0
        f.seek(0)
        f.truncate()
        for block in body.iter_chunks(_CHUNK):
            digest.update(block)
            size += len(block)
            f.write(block)
        return size, digest.hexdigest()

    size, sha256 = _call(location, fetch, f"download of {entry.path}")
    if (size, sha256) != (entry.size, entry.sha256):
        raise S3Error(f"{where}: {size} bytes with sha256 {sha256[:12]}..., but the manifest "
                      f"says {entry.size} bytes with sha256 {entry.sha256[:12]}...")


def _check_entry(entry: FileEntry, where: str) -> None:
    path = PurePosixPath(entry.path)
    if (path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts)
            or "\\" in entry.path):
        raise S3Error(f"{where}: unsafe path {entry.path!r}")
    if not isinstance(entry.size, int) or isinstance(entry.size, bool) or entry.size < 0:
        raise S3Error(f"{where}: {entry.path}: size must be an integer >= 0, got {entry.size!r}")
    if not isinstance(entry.sha256, str) or not _SHA256.fullmatch(entry.sha256):
        raise S3Error(f"{where}: {entry.path}: sha256 must be 64 hex digits")


def _remote_sizes(client, location: S3Location) -> dict[str, int]:
    sizes: dict[str, int] = {}
    prefix = f"{location.prefix}/" if location.prefix else ""

    def list_all():
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=location.bucket, Prefix=prefix):
            sizes.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})

    _call(location, list_all)
    return sizes


def _remote_sha256(client, location: S3Location, key: str) -> str | None:
    head = _call(location, lambda: client.head_object(Bucket=location.bucket, Key=key))
    return head.get("Metadata", {}).get("sha256")


def _get_bytes(client, location: S3Location, relative: str) -> bytes:
    from botocore.exceptions import ClientError

    try:
        return client.get_object(Bucket=location.bucket,
                                 Key=location.key(relative))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise _Missing from None
        raise


class _Missing(Exception):
    """The object does not exist (an expected answer, not a failure)."""


def _call(location: S3Location, operation: Callable, what: str = ""):
    """Run ``operation``; botocore and transfer errors become one-line :class:`S3Error`s."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return operation()
    except (ClientError, BotoCoreError, S3UploadFailedError) as error:
        raise _one_line(error, location, what) from None


def _one_line(error: Exception, location: S3Location, what: str = "") -> S3Error:
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    context = f"{location.url}: " + (f"{what}: " if what else "")
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return S3Error(f"{context}no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or ~/.aws/credentials)")
    if isinstance(error, ConnectionError):
        return S3Error(f"{context}cannot reach the S3 endpoint: {error}")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "?"))
        if code in ("NoSuchBucket", "404") and not what:
            return S3Error(f"{context}bucket {location.bucket!r} does not exist")
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return S3Error(f"{context}access denied ({code}); check the credentials")
    return S3Error(context + " ".join(str(error).split()))
