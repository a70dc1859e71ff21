"""Kubernetes resource quantities ("0.5", "500m", "0.5Gi", "512Mi", "1234n") as numbers.

Small and strict: the local platform turns `DeploySpec.cpu` / `.memory` into cgroup limits with it,
and the kubernetes footprint reads the metrics API's usage with it. Decimal arithmetic, so "0.5Gi"
is exactly 536870912, as the kubelet computes it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^\s*([+]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)\s*$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "K": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def quantity(text: object) -> Decimal:
    """The value of a quantity; ValueError naming it when it is not one."""
    m = _QUANTITY.match(str(text))
    if m is None or m.group(2) not in _SUFFIX:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 0.5, 500m, 512Mi, 0.5Gi)")
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation as e:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from e


def cpu_cores(text: object) -> float:
    """CPU in cores: "0.5" and "500m" are 0.5; the metrics API's "1234567n" is 0.001234567."""
    value = quantity(text)
    if value <= 0:
        raise ValueError(f"cpu {text!r} must be more than 0")
    return float(value)


def memory_bytes(text: object) -> int:
    """Memory in bytes, rounded up like the kubelet ("0.5Gi" -> 536870912)."""
    value = quantity(text)
    if value <= 0:
        raise ValueError(f"memory {text!r} must be more than 0")
    return int(value.to_integral_value(rounding="ROUND_CEILING"))
