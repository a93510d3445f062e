"""Benchmarks run by ``ninjarl bench``; see ``bench/README.md`` in the repository."""
