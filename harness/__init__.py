"""Evaluation harness: OpenIM's databases under KubeBlocks vs plain StatefulSets."""

__version__ = "0.1.0"
