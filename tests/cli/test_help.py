"""`anpr COMMAND --help` tells a newcomer what each command and option is for."""

from __future__ import annotations

import argparse

from cli.main import build_parser


def test_every_command_and_option_says_what_it_is_for():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, command in commands.choices.items():
        if not (command.description or "").strip(". "):
            missing.append(f"anpr {name}: no description")
        missing += [
            f"anpr {name} {a.option_strings or a.dest}: no help"
            for a in command._actions
            if not isinstance(a, argparse._HelpAction) and not a.help
        ]
    assert not missing, "\n".join(missing)
    assert "ack ID" in commands.choices["tfc"].format_help()  # the console's own commands
    assert "(default: 7.0)" in commands.choices["stats"].format_help()
