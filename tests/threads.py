"""Run code in threads that start at the same instant, each with its own DB connection."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def run_together(count: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` for i in range(count), released together; an exception in any fails the caller."""
    barrier = threading.Barrier(count)

    def worker(i: int) -> Any:
        try:
            barrier.wait()
            return call(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))
