"""The OpenIM-like workload: data model, per-engine client code, Locust users and the driver.

Importing this package imports no client library and never `locust`; `driver` is what the
orchestrator uses, `worker` is the load process's entry point.
"""
