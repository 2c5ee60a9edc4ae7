"""SQLite transactions that neither an error nor a Ctrl-C can leave open.

An error inside rolls the transaction back; so does one from `COMMIT` itself (a full disk), which
would otherwise leave the connection inside it, and every later `BEGIN` failing. The steps of
their own (`BEGIN`, `COMMIT`, `ROLLBACK`) are `interrupts.shielded`: a Ctrl-C landing there is
raised once the transaction is open and its rollback armed, or once it has ended; the body between
is interrupted as anything else. The state database and the work queue both open theirs here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from pansync import interrupts

__all__ = ["reading", "writing"]


@contextmanager
@interrupts.shielded
def writing(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, taken at once (`BEGIN IMMEDIATE`), rolled back on any exception."""
    try:
        db.execute("BEGIN IMMEDIATE")
        interrupts.checkpoint()
        yield
        db.execute("COMMIT")
    except BaseException:
        _end(db, "ROLLBACK")
        raise


@contextmanager
@interrupts.shielded
def reading(db: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every query inside sees one state of the database. Inside the caller's
    own transaction it adds nothing: that one holds the state still."""
    if db.in_transaction:
        yield
        return
    try:
        db.execute("BEGIN")
        interrupts.checkpoint()
        yield
    finally:
        _end(db, "COMMIT")


def _end(db: sqlite3.Connection, verb: str) -> None:
    """End the transaction if one is open: it may have ended already, or never begun."""
    if db.in_transaction:
        db.execute(verb)
