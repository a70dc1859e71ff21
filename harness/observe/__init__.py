"""The server's view of a cell: exporters scraped by one Prometheus, read back through its HTTP API.

Pure parts (rules, metric names, alert episodes, the cross-check, the server view) know no platform;
the platforms only run the processes or manifests and say where the Prometheus is
(`contracts.ObservationSource`).
"""
