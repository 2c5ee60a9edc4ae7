"""`python -m pansync`: the same as the `pansync` command."""

from pansync.cli import program

program()
