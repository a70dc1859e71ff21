"""A planted slow server: a loopback TCP proxy whose replies all pass one FIFO "server" with a fixed
service time, so its throughput has a known ceiling (1 / service time replies per second) and its
latency grows with the offered load the way a saturated database's does (M/D/1 queueing)."""

from __future__ import annotations

import collections
import selectors
import socket
import threading
import time


class SlowProxy:
    def __init__(self, upstream: tuple[str, int], service_s: float):
        self.upstream, self.service_s = upstream, service_s
        self.reply_times_us: list[int] = []  # when each reply chunk left the "server" (history clock)
        self._listen = socket.create_server(("127.0.0.1", 0))
        self._listen.setblocking(False)
        self.address = self._listen.getsockname()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listen, selectors.EVENT_READ, None)
        self._queue: collections.deque[tuple[socket.socket, bytes]] = collections.deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._io, daemon=True), threading.Thread(target=self._serve, daemon=True)]

    def __enter__(self) -> SlowProxy:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()

    def _io(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.1):
                if key.data is None:
                    client, _ = self._listen.accept()
                    server = socket.create_connection(self.upstream)
                    for s in (client, server):
                        s.setblocking(False)
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._sel.register(client, selectors.EVENT_READ, ("up", server))
                    self._sel.register(server, selectors.EVENT_READ, ("down", client))
                    continue
                direction, peer = key.data
                sock = key.fileobj
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    for s in (sock, peer):
                        try:
                            self._sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
                        s.close()  # type: ignore[union-attr]
                    continue
                if direction == "up":
                    peer.setblocking(True)
                    peer.sendall(data)
                    peer.setblocking(False)
                else:
                    with self._ready:
                        self._queue.append((peer, data))
                        self._ready.notify()

    def _serve(self) -> None:
        """One reply at a time, each `service_s` after the previous (or after its arrival)."""
        free_at = time.monotonic()
        while not self._stop.is_set():
            with self._ready:
                while not self._queue and not self._stop.is_set():
                    self._ready.wait(0.1)
                if self._stop.is_set():
                    return
                client, data = self._queue.popleft()
            free_at = max(free_at, time.monotonic()) + self.service_s
            delay = free_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                client.setblocking(True)
                client.sendall(data)
                client.setblocking(False)
            except OSError:
                continue
            self.reply_times_us.append(time.monotonic_ns() // 1000)
