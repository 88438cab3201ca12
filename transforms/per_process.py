"""Heavy objects (models, indexes) loaded once per worker process and shared by its threads."""
from __future__ import annotations

import threading
from typing import Callable, Dict, Hashable, TypeVar

from apache_beam.utils.shared import Shared

T = TypeVar("T")

_handles: Dict[Hashable, Shared] = {}
_lock = threading.Lock()


def per_process(key: Hashable, load: Callable[[], T]) -> T:
    """The object ``load()`` returns for ``key``, built on first use in this process (``Shared``)."""
    with _lock:
        handle = _handles.setdefault(key, Shared())
    return handle.acquire(load)
