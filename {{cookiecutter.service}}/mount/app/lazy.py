"""Values created on first use in each process.

SDK clients hold connection pools and background threads, and neither survives gunicorn's fork: pools
opened before the fork are shared by every worker (responses come back crossed). So every provider and
client is made lazily, in the worker that uses it, and made again if the process has forked since.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: Optional[T] = None
        self._pid: Optional[int] = None
        self._lock = threading.Lock()

    def get(self) -> T:
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._value = self._factory()
                    self._pid = pid
        return self._value  # type: ignore[return-value]

    @property
    def created(self) -> bool:
        """Whether this process has made the value already (without making it)."""
        return self._pid == os.getpid()
