"""Where the executor reports transfer progress: the interface the terminal's bars, the plain
lines and the agent's status implement. Apart from `execute` so that they, and a sync with
nothing to transfer, need not import the executor."""

from __future__ import annotations

__all__ = ["TransferSink"]


class TransferSink:
    """Where transfer progress goes (rich bars, plain lines, status); the default ignores it."""

    def start(self, key: str, direction: str, size: int) -> None:
        pass

    def advance(self, key: str, nbytes: int) -> None:
        pass

    def finish(self, key: str) -> None:
        pass
