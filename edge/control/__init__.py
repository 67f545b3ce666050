"""The local control API: a Unix socket carrying typed JSON-line messages (see docs/control-api.md).

Clients import only `edge.control.messages`; the daemon side is `edge.control.server`.
"""
