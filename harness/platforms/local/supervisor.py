"""kubelet + StatefulSet controller: a dead pod is restarted in place after the restart delay.

Not while its zone is down (the node is gone); when the zone returns its pods start at once,
like a node that boots and starts its containers. Deaths and restarts go to the events log.
"""

from __future__ import annotations

import threading
import time

from harness.platforms.local.state import LocalHandle

TICK_S = 0.05


class Supervisor:
    def __init__(self, handle: LocalHandle):
        self.handle = handle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{handle.id}", daemon=True)
        self._restart_now: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def restart_without_delay(self, names: list[str]) -> None:
        """A zone came back: its pods start on the next tick."""
        with self._lock:
            self._restart_now.update(names)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            for pod in list(self.handle.pods.values()) + list(self.handle.sidecars.values()):
                if self._stop.is_set():
                    return
                try:
                    self._tend(pod)
                except Exception as e:  # noqa: BLE001 - keep supervising the other pods
                    self.handle.events.write(f"supervisor: {pod.name}: restart failed: {e}")
                    pod.died_at = time.monotonic()

    def _tend(self, pod) -> None:
        if pod.proc is None or pod.alive():
            return
        now = time.monotonic()
        if pod.died_at is None:
            pod.died_at = now
            code = pod.proc.returncode
            self.handle.events.write(f"pod {pod.name} died (exit {code}) zone={pod.zone}")
        if pod.zone in self.handle.down_zones:
            return
        with self._lock:
            immediate = pod.name in self._restart_now
            self._restart_now.discard(pod.name)
        if not immediate and now - pod.died_at < self.handle.spec.restart_delay_s:
            return
        with self.handle.lock:
            if self.handle.torn_down or self._stop.is_set():
                return
            pod.start(self.handle.registry)
        self.handle.events.write(f"pod {pod.name} restarted in place (pid {pod.pid}) zone={pod.zone}")
