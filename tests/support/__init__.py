"""Shared helpers of the test suites (`from support.waiting import wait_until`); on the path via
`pythonpath = ["tests"]` in pyproject.toml."""
