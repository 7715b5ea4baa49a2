"""Small named errors of the store."""


class StoreError(Exception):
    """Base of the store's errors."""


class SchemaTooNew(StoreError):
    """The file was written by a newer coach than this one (its schema version is higher)."""
