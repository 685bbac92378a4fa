"""Command-line interface: a thin layer over the Python API.

Every error a user can cause prints one line on stderr and exits with code 2; rows already written stay.
Each command family lives in its own module and lists its commands in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from .common import SmoothcertGroup

#: Modules under smoothcert.cli whose COMMANDS are added to the ``smoothcert`` group.
COMMAND_MODULES = ("core", "audit", "tradeoff", "uncertainty", "mix", "fast", "recertify", "report", "results")


@click.group(cls=SmoothcertGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smoothcert")
def main() -> None:
    """Certified robustness of PyTorch classifiers by randomized smoothing."""


for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        for _command in importlib.import_module(f"{__name__}.{_name}").COMMANDS:
            main.add_command(_command)

__all__ = ["main"]
