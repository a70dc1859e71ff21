"""The client libraries this interpreter imports, with their versions: they go into results.json
(`run.software`), the report header and `harness doctor`, next to the servers' versions."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# results.json key -> distribution name. `redis-py`, because `redis` is already the Redis server's key.
CLIENT_DISTRIBUTIONS = {"pymysql": "PyMySQL", "redis-py": "redis", "pymongo": "pymongo", "locust": "locust",
                        "gevent": "gevent", "greenlet": "greenlet"}


def client_versions() -> dict[str, str | None]:
    """key -> installed version of that client library in this interpreter (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for key, dist in CLIENT_DISTRIBUTIONS.items():
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = None
    return out
