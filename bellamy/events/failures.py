"""Which errors of an event task are worth retrying, and the back-off between retries.

:func:`classify` sorts an exception raised while handling a batch into

* :attr:`Failure.DATABASE_UNAVAILABLE` — PostgreSQL cannot be reached or refuses connections
  ("too many clients", shutting down, starting up). Retried for as long as it lasts: the
  idempotency records and the dead-letter store live in that database, so giving up could only
  lose the batch.
* :attr:`Failure.TRANSIENT` — a service that is down, overloaded or failing over: a deadlock or
  serialisation failure, a statement timeout, SQLite busy; Redis (cache, channel layer, broker),
  MongoDB, Neo4j or Kafka unreachable or asking to retry. Retried while the retry budget lasts.
* :attr:`Failure.PERMANENT` — everything else (a bug, a constraint, bad data): retrying cannot
  help; the failing events are dead-lettered at once.

The exception's explicit causes (``raise … from …``) are examined too, so a domain error wrapping
a connection error counts as transient.
"""

from __future__ import annotations

import enum
import errno
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError


class Failure(enum.Enum):
    """How a task failure is handled (see the module docstring)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    DATABASE_UNAVAILABLE = "database unavailable"


#: PostgreSQL SQLSTATEs meaning "the server cannot serve this connection now".
_PG_UNAVAILABLE = {"53300", "57P01", "57P02", "57P03"}  # too many clients, shutdown, crash, starting
#: PostgreSQL SQLSTATEs meaning "this attempt lost a race or ran out of something; try again".
_PG_TRANSIENT = {"40001", "40P01", "55P03", "57014", "53100", "53200", "53400"}
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
                   errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE}


def _database(exc: BaseException) -> Failure | None:
    if not isinstance(exc, DatabaseError):
        return None
    if isinstance(exc, InterfaceError):  # the connection is already closed
        return Failure.DATABASE_UNAVAILABLE
    if not isinstance(exc, OperationalError):
        return Failure.PERMANENT  # IntegrityError, DataError, ProgrammingError, ...
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if type(cause).__module__ == "sqlite3":
        return Failure.TRANSIENT if "locked" in str(exc) or "busy" in str(exc) else Failure.PERMANENT
    if sqlstate is None or sqlstate.startswith("08") or sqlstate in _PG_UNAVAILABLE:
        return Failure.DATABASE_UNAVAILABLE  # no answer at all, a connection exception, or refused
    if sqlstate in _PG_TRANSIENT:
        return Failure.TRANSIENT
    return Failure.PERMANENT


def _redis(exc: BaseException) -> Failure | None:
    try:
        from redis import exceptions as redis_errors
    except ImportError:  # pragma: no cover - redis is a dependency
        return None
    transient = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError,
                 redis_errors.TryAgainError, redis_errors.ClusterDownError, redis_errors.MasterDownError)
    if isinstance(exc, transient):
        return Failure.TRANSIENT
    try:
        from django_redis.exceptions import ConnectionInterrupted
    except ImportError:  # pragma: no cover
        return None
    return Failure.TRANSIENT if isinstance(exc, ConnectionInterrupted) else None


def _mongo(exc: BaseException) -> Failure | None:
    try:
        from pymongo import errors as mongo_errors
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, mongo_errors.ConnectionFailure | mongo_errors.ExecutionTimeout | mongo_errors.WTimeoutError):
        return Failure.TRANSIENT
    if isinstance(exc, mongo_errors.PyMongoError) and (
        exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError")
    ):
        return Failure.TRANSIENT
    return None


def _neo4j(exc: BaseException) -> Failure | None:
    try:
        from neo4j import exceptions as neo4j_errors
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, neo4j_errors.IncompleteCommit):
        # The commit may or may not have happened; the graph store's writes are keyed so that a
        # retry converges, and dropping the batch would certainly lose it.
        return Failure.TRANSIENT
    if isinstance(exc, neo4j_errors.Neo4jError | neo4j_errors.DriverError) and exc.is_retryable():
        return Failure.TRANSIENT
    if isinstance(exc, neo4j_errors.ConnectionAcquisitionTimeoutError):
        return Failure.TRANSIENT
    return None


def _kafka_and_broker(exc: BaseException) -> Failure | None:
    try:
        from kafka.errors import KafkaError
    except ImportError:  # pragma: no cover
        KafkaError = ()  # noqa: N806
    if KafkaError and isinstance(exc, KafkaError) and getattr(exc, "retriable", False):
        return Failure.TRANSIENT
    try:
        from kombu.exceptions import OperationalError as BrokerUnavailable
    except ImportError:  # pragma: no cover
        return None
    return Failure.TRANSIENT if isinstance(exc, BrokerUnavailable) else None


def _network(exc: BaseException) -> Failure | None:
    if isinstance(exc, ConnectionError | TimeoutError):
        return Failure.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return Failure.TRANSIENT
    return None


_CHECKS = (_database, _redis, _mongo, _neo4j, _kafka_and_broker, _network)


def classify(exc: BaseException) -> Failure:
    """Sort ``exc`` (and its explicit ``__cause__`` chain) into a :class:`Failure`.

    Returns:
        The first verdict of the exception or one of its causes; ``PERMANENT`` when none is
        recognised as transient.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(seen) < 8:
        seen.add(id(link))
        for check in _CHECKS:
            verdict = check(link)
            if verdict is not None:
                return verdict
        link = link.__cause__
    return Failure.PERMANENT


def is_database_error(exc: BaseException) -> bool:
    """True when ``exc`` came from the relational database (its connection may be broken)."""
    return isinstance(exc, DatabaseError) or isinstance(exc.__cause__, DatabaseError)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, bounded by a budget.

    Attributes:
        budget: seconds after the first failure during which transient errors are retried
            (``BELLAMY_TASK_RETRY_BUDGET``).
        max_delay: longest pause between two attempts, in seconds (``BELLAMY_TASK_RETRY_MAX_DELAY``).
        base_delay: the first pause, in seconds; each next one doubles.
    """

    budget: float
    max_delay: float
    base_delay: float = 0.5

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        """The policy of ``BELLAMY_TASK_RETRY_BUDGET`` and ``BELLAMY_TASK_RETRY_MAX_DELAY``."""
        return cls(budget=settings.BELLAMY_TASK_RETRY_BUDGET, max_delay=settings.BELLAMY_TASK_RETRY_MAX_DELAY)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): half to all of
        ``base_delay · 2^(attempt-1)``, capped at ``max_delay`` (the jitter spreads the retries of
        workers that failed together)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 30))
        return random.uniform(ceiling / 2, ceiling)
