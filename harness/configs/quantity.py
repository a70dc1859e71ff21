"""Kubernetes resource quantities ("0.5", "500m", "2"; "0.5Gi", "512Mi", "1G", "1073741824").

Exact (Decimal), because the addons' formulas divide and floor: a float would turn 0.5Gi into a
byte count one off. Integer views round up like `resource.Quantity.Value()`, which is what
KubeBlocks' render functions read (a 0.5 CPU limit is 1 core to them).
"""

from __future__ import annotations

import math
from decimal import Decimal

from harness.errors import HarnessError
from harness.quantity import quantity

EXAMPLES = {"cpu": "0.5, 500m, 2", "memory": "0.5Gi, 512Mi, 1G, 1073741824"}


def parse_quantity(text: str, what: str = "quantity") -> Decimal:
    """The quantity's exact value (cores, bytes); a malformed or non-positive one is one clear line."""
    try:
        value = quantity(str(text).strip())
    except ValueError:
        raise HarnessError(f"{what} {text!r}: not a Kubernetes quantity (e.g. {EXAMPLES.get(what, '0.5, 512Mi')})") from None
    if value <= 0:
        raise HarnessError(f"{what} {text!r}: must be more than 0")
    return value


def cpu_cores(text: str) -> Decimal:
    """CPU in cores, exactly ("500m" -> 0.5)."""
    return parse_quantity(text, "cpu")


def cpu_whole_cores(text: str) -> int:
    """CPU as `Quantity.Value()` reads it: rounded up to whole cores (0.5 -> 1)."""
    return math.ceil(cpu_cores(text))


def memory_bytes(text: str) -> int:
    """Memory in bytes, rounded up like `Quantity.Value()` ("0.5Gi" -> 536870912)."""
    return math.ceil(parse_quantity(text, "memory"))
