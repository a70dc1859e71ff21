"""Kubernetes resource quantities ("0.5", "500m", "2"; "0.5Gi", "512Mi", "1G", "1073741824").

Exact (Decimal), because the addons' formulas divide and floor: a float would turn 0.5Gi into a
byte count one off. Integer views round up like `resource.Quantity.Value()`, which is what
KubeBlocks' render functions read (a 0.5 CPU limit is 1 core to them).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from harness.errors import HarnessError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_QUANTITY = re.compile(r"^(?P<num>[+]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
EXAMPLES = {"cpu": "0.5, 500m, 2", "memory": "0.5Gi, 512Mi, 1G, 1073741824"}


def parse_quantity(text: str, what: str = "quantity") -> Decimal:
    """The quantity's exact value (cores, bytes); a malformed or non-positive one is one clear line."""
    m = _QUANTITY.match(str(text).strip())
    if m is None:
        raise HarnessError(f"{what} {text!r}: not a Kubernetes quantity (e.g. {EXAMPLES.get(what, '0.5, 512Mi')})")
    try:
        num = Decimal(m.group("num"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise HarnessError(f"{what} {text!r}: not a number") from None
    suffix = m.group("suffix") or ""
    if suffix in _BINARY:
        value = num * _BINARY[suffix]
    elif suffix in _DECIMAL:
        value = num * _DECIMAL[suffix]
    else:
        value = num.scaleb(int(suffix[1:]))
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
