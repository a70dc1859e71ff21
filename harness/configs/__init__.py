"""Server configurations rendered from a pod's CPU / memory limits: pure functions, no I/O.

One module per engine (`render(mode, cpu, memory) -> RenderedConfig`), reached through the engine
object (`engines.get(name).render_config`), never by name. `kubeblocks`: the KubeBlocks addon's
config template evaluated for the limits (in MariaDB's names where the local server is MariaDB);
`statefulset`: what OpenIM ships (its manifests set next to nothing, so mostly server defaults,
written out so the two modes can be compared line by line). `quantity` parses the limits.
"""

from __future__ import annotations

from harness.configs.quantity import cpu_cores, cpu_whole_cores, memory_bytes, parse_quantity

__all__ = ["cpu_cores", "cpu_whole_cores", "memory_bytes", "parse_quantity"]
