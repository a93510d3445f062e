"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Each function writes to a temporary file in the target's own directory (so the final
``os.replace`` is a rename on one file system) and replaces the target only once the content
is complete; on failure the temporary file is removed and the old target is untouched.
"""
from __future__ import annotations

import json
import os
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


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda f: f.write(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, document) -> Path:
    return write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())


def save_npz(path: str | Path, arrays: dict) -> Path:
    import numpy as np
    return write_with(path, lambda f: np.savez(f, **arrays))


def replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, replacing an existing one only after
    ``new`` is complete (the old one is moved aside first, then deleted)."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / "previous")
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
