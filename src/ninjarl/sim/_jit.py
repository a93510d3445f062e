"""The one decorator for compiled simulator code, with an on-disk cache keyed by our source.

numba's own cache is invalidated only when the decorated function's file changes, but our
kernels inline functions from several modules and packages; an edit to ``ninja.py`` would
leave a stale compiled ``core.tick`` behind, an edit to ``env/rewards.py`` a stale observation
kernel. Keying the cache directory by a digest of every module of the packages with compiled
code makes any such source change start a fresh cache.
"""
import hashlib
import os
from pathlib import Path

import numba

#: the packages whose compiled functions call (and so inline) one another: the environment's
#: kernels inline the simulator's, the navigation's and each other's across modules
COMPILED_PACKAGES = ("sim", "nav", "env", "draw")


def _source_digest(root: Path = Path(__file__).parent.parent) -> str:
    digest = hashlib.sha256()
    for package in COMPILED_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(f"{package}/{path.name}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):
    _base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    numba.config.CACHE_DIR = str(_base / "ninjarl" / "numba" / _source_digest())


def jit(fn):
    """Compile `fn` in nopython mode with the source-keyed disk cache and without numba's
    reference counting (NRT).

    Our kernels never allocate (scratch buffers come from Python), so reference counting buys
    nothing, and with it every call that passes the Bank/State bundles pays an atomic
    increment and decrement per array: measured 115 ns against 1.4 ns for one closest-point
    query.
    """
    return numba.njit(cache=True, _nrt=False)(fn)


def jit_inline(fn):
    """Like :func:`jit`, but inlined into every caller at compile time.

    Used for entity behaviour: a frame calls it once per entity, and a real call has to pass the
    whole Bank/State bundles (about 230 machine words, ~54 ns); inlined, the mine_heavy map runs
    3.5x faster. The price is a longer first compilation.
    """
    return numba.njit(cache=True, _nrt=False, inline="always")(fn)
