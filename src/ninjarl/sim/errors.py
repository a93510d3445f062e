"""Errors raised while reading N++ map and replay data."""

from __future__ import annotations


class FormatError(ValueError):
    """Malformed or unsupported map/replay bytes.

    ``path`` names the file (``None`` for in-memory data) and ``field`` the part of
    the format that is wrong, so the one-line message tells a user where to look.
    """

    def __init__(self, path: str | None, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        where = path if path is not None else "<bytes>"
        super().__init__(f"{where}: {field}: {problem}")
