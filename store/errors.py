"""Small named errors of the store."""


class StoreError(Exception):
    """Base of the store's errors."""


class SchemaTooNew(StoreError):
    """The file was written by a newer coach than this one (its schema version is higher)."""


class NeedsReplay(StoreError):
    """The file's schema is older than this coach's, and a migration between them cannot be
    made in place: the projection must be rebuilt from the topics (`coach replay`)."""


class ProjectionRefused(StoreError):
    """The projection file must not be read on with these settings (a snapshot of other
    topics, a damaged copy): the consumer stops before reading anything."""


class Unreadable(StoreError):
    """SQLite cannot read the file as a database (truncated, damaged, or not a projection)."""
