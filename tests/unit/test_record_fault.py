"""Whose fault an error is (consumer/faults.py `is_record_fault`): only a record's own fault
makes a dead letter; a fault of storage or of the process must never advance an offset."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from consumer.faults import is_record_fault


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed"),
        sqlite3.DataError("string or blob too big"),
        ValueError("bad date"),
        TypeError("unsupported operand"),
        KeyError("name"),
        AssertionError(),
        RecursionError(),
    ],
)
def test_a_records_own_faults_are_record_faults(exc):
    assert is_record_fault(exc)


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.DatabaseError("database disk image is malformed"),
        sqlite3.ProgrammingError("Cannot operate on a closed database."),
        sqlite3.InternalError(),
        MemoryError(),
        OSError(28, "No space left on device"),
        SystemError(),
        KeyboardInterrupt(),
        asyncio.CancelledError(),
    ],
)
def test_storage_and_process_faults_are_not_record_faults(exc):
    assert not is_record_fault(exc)
