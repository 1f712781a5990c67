"""p2pcount: crowd counting and head localization with P2PNet (ICCV 2021).

Importing the package is cheap (torch is imported only when a model is used)::

    from p2pcount import Counter
    counter = Counter.from_pretrained("synthetic-demo")
    result = counter.count("crowd.jpg", threshold=0.5)
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

__version__ = version("p2pcount")

if TYPE_CHECKING:
    from p2pcount.infer.counter import Counter
    from p2pcount.output.result import CountResult

__all__ = ["Counter", "CountResult", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Counter":
        from p2pcount.infer.counter import Counter

        return Counter
    if name == "CountResult":
        from p2pcount.output.result import CountResult

        return CountResult
    raise AttributeError(f"module 'p2pcount' has no attribute {name!r}")
