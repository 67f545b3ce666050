"""Moved: the in-memory line pair lives in `tests/support/memline.py` (`from support.memline import …`)."""

from support.memline import LossyEvery, MemoryEnd, memory_pair

__all__ = ["LossyEvery", "MemoryEnd", "memory_pair"]
