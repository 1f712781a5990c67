"""p2pcount: crowd counting and head localization with P2PNet (ICCV 2021).

Importing the package is cheap (torch is imported only when a model is used)::

    from p2pcount import Counter
    counter = Counter.from_pretrained("synthetic-demo")
    result = counter.count("crowd.jpg", threshold=0.5)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from p2pcount.infer.counter import Counter, CountResult

__all__ = ["Counter", "CountResult", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Counter", "CountResult"):
        from p2pcount.infer import counter

        return getattr(counter, name)
    raise AttributeError(f"module 'p2pcount' has no attribute {name!r}")
