"""The attendant terminal UI: a Textual client of the daemon's control API (see docs/tui.md).

Layer: tui. Imports nothing of `edge` but `edge.control.messages` (the API's message types).
"""
