"""Worker process pools that stop with their command.

Ctrl-C in a terminal sends SIGINT to every process of the foreground job. The workers of
:func:`worker_pool` ignore it (no traceback from each of them); the parent gets the
KeyboardInterrupt and terminates them at once instead of waiting for their tasks.
"""
from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def worker_pool(jobs: int) -> Iterator[Pool]:
    """A pool of ``jobs`` forked workers (where the platform forks), closed on success and
    terminated on any exception, Ctrl-C included."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = context.Pool(jobs, initializer=_ignore_sigint)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
