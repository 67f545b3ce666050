"""Widgets of the terminal UI, one idea per module."""
