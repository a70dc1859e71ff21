"""The declaration types a scenario module uses (defined in the library: harness/scenario.py)."""

from harness.scenario import DEFAULT_MIX, NODE_LOSS_MIN_FAULT_S, FaultDecl, Scenario

__all__ = ["DEFAULT_MIX", "NODE_LOSS_MIN_FAULT_S", "FaultDecl", "Scenario"]
