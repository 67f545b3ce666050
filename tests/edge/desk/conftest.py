"""Fixtures of the desk tests: the private pcscd with vpcd readers (tests/support/pcsc.py)."""

from support.pcsc import pcsc

__all__ = ["pcsc"]
