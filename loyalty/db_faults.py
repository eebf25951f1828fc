"""What a database error means for the caller: retry the transaction here, tell the client
to come back later, or neither.

PostgreSQL says why a statement failed in its SQLSTATE code; psycopg carries it on the
error Django wraps (`__cause__`). A connection that fails before the server says anything
has none.
"""

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError

# The transaction lost a race it can win by running again, whole.
RETRYABLE_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock

# The database cannot serve now: it is gone or restarting, refuses connections, is read-only,
# or cancelled the statement at a timeout. Class 08: connection exceptions; 53: out of
# resources; 57: operator intervention (shutdown, cannot connect now, query canceled).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = frozenset({"25006", "55P03"})  # read-only transaction, lock timeout


def sqlstate(error: BaseException) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


def transaction_retryable(error: BaseException) -> bool:
    return isinstance(error, OperationalError) and sqlstate(error) in RETRYABLE_STATES


def database_unavailable(error: BaseException) -> bool:
    """Whether the error says the database could not do the work now, not that the work was
    refused: the client should retry later with the same request."""
    if isinstance(error, InterfaceError):  # the connection was already closed
        return True
    if not isinstance(error, DatabaseError) or isinstance(error, IntegrityError):
        return False
    state = sqlstate(error)
    if state is None:
        return isinstance(error, OperationalError)  # no answer from the server at all
    return (
        state[:2] in _UNAVAILABLE_CLASSES
        or state in _UNAVAILABLE_STATES
        or state in RETRYABLE_STATES  # still losing after the retries
    )
