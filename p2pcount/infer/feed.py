"""Reading an iterable ahead in a background thread, so that slow sources (stdin, a video
decoder, a camera) overlap with counting and never hold back work already possible."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Feed(Generic[T]):
    """The items of an iterable, taken without waiting when asked to.

    A sequence is read directly, and so is any iterable when ``threaded`` is False (a
    source that reads ahead itself, such as a live stream's newest-frame slot). Any other
    iterable (paths read from stdin line by line,
    frames decoded from a video) is read by a background thread into a bounded queue, so
    that an item that has not arrived yet never holds back the work already possible, and
    reading overlaps the caller's work. An exception raised by the iterable is re-raised by
    :meth:`take`, after the items read before it.
    """

    _END = object()

    def __init__(self, items: Iterable[T], size: int = 256, *, threaded: bool = True) -> None:
        self.done = False
        self._items = iter(items)
        self._queue: queue.Queue | None = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()
        if threaded and not isinstance(items, Sequence):
            self._queue = queue.Queue(size)
            self._reader = threading.Thread(target=self._read, daemon=True, name="p2pcount-feed")
            self._reader.start()

    def _read(self) -> None:
        try:
            for item in self._items:
                self._queue.put(item)
                if self._stopping.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(exc)
            return
        self._queue.put(self._END)

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading ahead: the thread ends after the item it is reading (waited for up
        to ``timeout`` seconds), so that the source can then be closed safely."""
        if self._reader is None:
            return
        self._stopping.set()
        while self._reader.is_alive():
            try:  # make room, so that a reader blocked on a full queue goes on and sees the flag
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._reader.join(timeout=0.05)
            timeout -= 0.05
            if timeout <= 0:
                return

    def take(self, wait: bool) -> T | None:
        """The next item; None if none is ready without waiting, or if they ended
        (then :attr:`done` is True)."""
        if self.done:
            return None
        if self._queue is None:
            item = next(self._items, self._END)
        else:
            try:
                item = self._queue.get(block=wait)
            except queue.Empty:
                return None
        if item is self._END or isinstance(item, BaseException):
            self.done = True
            if isinstance(item, BaseException):
                raise item
            return None
        return item
