"""A value read from the database on hot paths, kept briefly in this process."""

import time
from collections.abc import Callable


class ProcessCache[T]:
    """`load()`'s result, reused for `seconds`; `clear()` makes the next `get()` reload.

    Changes made in this process are seen at once (whoever saves clears the
    cache); changes made elsewhere within `seconds`.
    """

    def __init__(self, load: Callable[[], T], seconds: float = 5.0) -> None:
        self._load = load
        self._seconds = seconds
        self._cached: tuple[float, T] | None = None

    def get(self) -> T:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._seconds:
            return self._cached[1]
        value = self._load()
        self._cached = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        self._cached = None
