"""Core values and contracts: the incident record, time windows, severity, findings,
the metric vocabulary, frame contracts and the one exception tree.

Imports nothing else of ``incident_lib`` and does no I/O at import; every other
layer may import it.
"""
