"""Whose fault a failure is: the record's (a dead letter), or the storage's (retried). Pure."""

from __future__ import annotations

import sqlite3

_NOT_RECORD_FAULTS = (sqlite3.DatabaseError, MemoryError, OSError, SystemError)


def is_record_fault(exc: BaseException) -> bool:
    """Whether `exc`, raised while applying one record, is that record's own fault, which
    makes it a dead letter (its offset advances). Pure.

    A constraint or a value SQLite refuses (IntegrityError, DataError), and the ordinary
    exceptions a handler raises on odd data (ValueError, TypeError, KeyError, ...) are the
    record's. Any other SQLite error (disk full, I/O error, a corrupt file: DatabaseError and
    its OperationalError), MemoryError, OSError and SystemError are faults of the storage or
    of the process: they would fail any record, so they must not advance an offset. Neither
    is anything that is not an Exception (KeyboardInterrupt, a cancellation)."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_RECORD_FAULTS)
