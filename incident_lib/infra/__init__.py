"""Infrastructure: the incident workspace, the evidence store, atomic files and redaction.

Imports only :mod:`incident_lib.core`. Everything written to disk passes through here.
"""
