"""Every command's and sub-command's help prints: argparse formats each help text with `%`, so a help
that says "5 %" must escape it or `--help` ends in a traceback."""

from __future__ import annotations

import argparse

import pytest

from edge.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(" ".join(("station", *path)), parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, (*path, name))
    return out


PARSERS = _parsers(build_parser())


def test_every_command_is_walked() -> None:
    names = {name for name, _ in PARSERS}
    assert {"station", "station bench", "station bench poll", "station desk", "station tanks"} <= names


@pytest.mark.parametrize(("name", "parser"), PARSERS, ids=[name for name, _ in PARSERS])
def test_help_prints(name: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert text.startswith("usage: " + name.split(" ")[0])
    assert name.split(" ")[-1] in text
