"""Every subcommand's --help teaches by example, as README.md promises."""

from __future__ import annotations

import pytest

from whichmodel.cli import main

COMMANDS = ["demo", "train", "evaluate", "predict", "bench", "choose", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_runnable_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "\nexamples:\n" in out
    examples = out.split("\nexamples:\n", 1)[1]
    assert f"whichmodel {command} " in examples
    assert "%%" not in out  # argparse prints a literal %% in descriptions
