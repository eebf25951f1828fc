"""Run code in threads that start at the same instant, each with its own DB connection."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def run_together(
    count: int, call: Callable[[int], Any], *, threads: int | None = None
) -> list[Any]:
    """`call(i)` for i in range(count), released together; an exception in any fails the caller.

    With `threads` below `count`, each thread makes its share of the calls back to
    back (PostgreSQL allows about 100 connections, so 100 callers cannot each have one).
    """
    threads = min(count, threads or count)
    barrier = threading.Barrier(threads)

    def worker(first: int) -> list[Any]:
        try:
            barrier.wait()
            return [call(i) for i in range(first, count, threads)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        shares = list(pool.map(worker, range(threads)))
    results: list[Any] = [None] * count
    for first, share in enumerate(shares):
        results[first:count:threads] = share
    return results
