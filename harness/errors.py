"""Outcomes that are not crashes: each maps to a cell status or to exit status 2."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable environment: the CLI prints one line and exits 2."""


class CellSkipped(Exception):
    """The cell cannot run here (e.g. no `mongod`); `reason` says why and how to fix it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CellNotApplicable(Exception):
    """The scenario does not apply to this deployment (e.g. no secondary in a StatefulSet)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DeployError(Exception):
    """A deployment did not become ready; the message carries the server's own error."""
