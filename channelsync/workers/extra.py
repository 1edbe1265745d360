"""What workers need before anything else: the optional dependency and a PostgreSQL store.

Nothing here imports procrastinate, so the commands can say clearly what is missing.
"""

from __future__ import annotations

import importlib.util
from urllib.parse import parse_qs, urlsplit

from channelsync.config import Config
from channelsync.errors import ConfigurationError
from channelsync.store.sql.engine import CONNECT_TIMEOUT_S

__all__ = [
    "INSTALL_HINT",
    "conninfo",
    "has_procrastinate",
    "is_postgres",
    "require_postgres",
    "require_procrastinate",
]

#: How to install what workers need.
INSTALL_HINT = "pip install 'channelsync[workers]'"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def has_procrastinate() -> bool:
    """Whether the workers' optional dependency is installed."""
    return importlib.util.find_spec("procrastinate") is not None


def require_procrastinate() -> None:
    """Raise :class:`ConfigurationError` naming the extra when procrastinate is missing."""
    if not has_procrastinate():
        raise ConfigurationError(
            f"workers need the procrastinate job queue, which is not installed: {INSTALL_HINT}"
        )


def is_postgres(url: str) -> bool:
    """Whether a store URL names a PostgreSQL database."""
    return url.startswith(_POSTGRES_SCHEMES)


def require_postgres(config: Config) -> str:
    """Return the libpq connection string of the config's store; refuse any other database.

    Workers share their queue through the store's database, which must be PostgreSQL;
    a SQLite store is worked by one ``channelsync run`` process instead.
    """
    url = config.store.url
    if not is_postgres(url):
        kind = "a SQLite file" if url.startswith("sqlite") else f"{url.split(':', 1)[0]!r}"
        raise ConfigurationError(
            f"workers need a PostgreSQL store, and this one is {kind}. Run "
            "`channelsync run` to work this store in one process, or point [store] url "
            "at PostgreSQL (postgresql://…) and run `channelsync store migrate` first",
            path=str(config.path),
            field="store.url",
        )
    return conninfo(url)


def conninfo(url: str) -> str:
    """Return a store URL as psycopg accepts it (without SQLAlchemy's ``+driver``).

    It carries the store's connect timeout (:data:`CONNECT_TIMEOUT_S`) unless the URL
    sets its own ``connect_timeout``.
    """
    info = f"postgresql://{url.partition('://')[2]}"
    query = urlsplit(info).query
    if "connect_timeout" in parse_qs(query):
        return info
    return f"{info}{'&' if query else '?'}connect_timeout={CONNECT_TIMEOUT_S}"
