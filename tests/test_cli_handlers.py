"""Every subcommand the parser offers names a handler that exists."""

from __future__ import annotations

import argparse


def _handlers(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                name = sub.get_default("handler")
                found |= {name} if name else _handlers(sub)
    return found


def test_every_subcommand_has_its_handler():
    from fennec_core.cli import handler
    from fennec_core.cli.parser import build_parser

    names = _handlers(build_parser())
    assert {"cmd_rank", "cmd_next", "cmd_serve", "cmd_zoos", "cmd_zoo_info"} <= names
    for name in names:
        assert callable(handler(name)), name
