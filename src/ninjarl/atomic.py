"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Each function writes to a temporary file in the target's own directory (so the final
``os.replace`` is a rename on one file system) and replaces the target only once the content
is complete; on failure the temporary file is removed and the old target is untouched.

Directories (:func:`replace_dir`) cannot be swapped in one rename, so a finished directory
``new`` (written as ``.<name>.XXXXXXXX`` next to ``<name>``) replaces ``<name>`` in two:

1. ``<name>`` -> ``.<name>.old`` (a leftover ``.<name>.old`` is deleted first: it can only be
   there next to a complete ``<name>``);
2. ``new`` -> ``<name>``; then ``.<name>.old`` is deleted.

So at every moment either ``<name>`` is complete, or (a crash between steps 1 and 2) it is
missing and ``.<name>.old`` holds the complete previous version. Readers use
:func:`current_dir` (``<name>``, else ``.<name>.old``); a writer that continues from the
directory calls :func:`recover_dir` first (renames ``.<name>.old`` back). Temporary directories
left by a crash are removed by :func:`remove_stale_temps`.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_with(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` from ``write(file)`` atomically; returns the path."""
    path = Path(path)
    if path.is_dir():         # else the rename fails naming the temporary file, not ``path``
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)          # mkstemp makes 0600; give a normal file's mode
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def safe_name(text: str) -> str:
    """``text`` as one file or directory name: anything but letters, digits and ``_.+-``
    (path separators included) becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda f: f.write(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, document) -> Path:
    return write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())


def save_npz(path: str | Path, arrays: dict) -> Path:
    import numpy as np
    return write_with(path, lambda f: np.savez(f, **arrays))


def old_dir(target: Path) -> Path:
    """Where :func:`replace_dir` keeps the previous ``target`` between its two renames."""
    target = Path(target)
    return target.with_name(f".{target.name}.old")


def temp_dir(parent: str | Path, prefix: str, suffix: str = "") -> Path:
    """A new empty folder ``<prefix>XXXXXXXX<suffix>`` in ``parent`` with a normal folder's
    mode (``tempfile.mkdtemp`` makes 0700 whatever the umask, and keeps it through renames)."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix))
    os.chmod(path, 0o777 & ~_UMASK)
    return path


def replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, crash-safely (see the module
    docstring: the previous ``target`` waits as ``.<target>.old`` until ``new`` is in place)."""
    new, target, old = Path(new), Path(target), old_dir(target)
    os.chmod(new, 0o777 & ~_UMASK)              # mkdtemp makes 0700; give a normal folder's mode
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)      # stale: ``target`` is complete
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def current_dir(target: str | Path) -> Path:
    """``target``, or its previous version ``.<target>.old`` where a crash inside
    :func:`replace_dir` left only that."""
    target = Path(target)
    old = old_dir(target)
    return old if not target.exists() and old.is_dir() else target


def recover_dir(target: str | Path) -> Path:
    """Finish a :func:`replace_dir` that a crash interrupted between its renames: put
    ``.<target>.old`` back as ``target`` if ``target`` is missing. Returns ``target``."""
    target = Path(target)
    if current_dir(target) != target:
        os.replace(old_dir(target), target)
    return target


def remove_stale_temps(target: str | Path) -> None:
    """Delete the temporary directories a crashed writer of ``target`` left next to it
    (``.<name>.XXXXXXXX`` from ``tempfile.mkdtemp``, and ``.<name>.old.XXXXXXXX`` of earlier
    versions); nothing else is touched. Only for targets with a single writer."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(old\.)?[a-z0-9_]{{8}}")
    if target.parent.is_dir():
        for path in target.parent.iterdir():
            if pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
