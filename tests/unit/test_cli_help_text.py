"""Help texts reach the reader whole.

Typer renders docstrings and option help through Rich markup, where ``[timestamps]`` is a style tag:
``gateway sim tsa --help`` printed "point ` url` at it" for "point `[timestamps] url` at it" (found by
reading the help). Every bracketed word in a help text must be escaped (``\\[timestamps]``) or be a
real style; this walks every command and option of the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer
from rich.markup import render

from gateway.cli import app

TAG = re.compile(r"(?<!\\)\[[a-z_.]+\]")


def texts(command: Any, path: str = "gateway") -> Iterator[tuple[str, str]]:
    yield path, command.help or ""
    for param in getattr(command, "params", []):
        yield f"{path} {param.name}", getattr(param, "help", None) or ""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from texts(sub, f"{path} {name}")


def test_no_help_text_loses_a_bracketed_word_to_rich_markup() -> None:
    lost = []
    for where, text in texts(typer.main.get_command(app)):
        for tag in TAG.findall(text):
            if tag not in render(text).plain:
                lost.append((where, tag))
    assert lost == []


def test_the_tsa_simulator_help_names_the_setting() -> None:
    sim = typer.main.get_command(app).commands["sim"]  # type: ignore[attr-defined]
    assert "[timestamps] url" in render(sim.commands["tsa"].help).plain
