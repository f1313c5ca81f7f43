"""Sessions for auth-service: the shared kit's `get_session` is the one place that commits."""

from service_kit.db import SessionDep, get_session, make_sessionmaker

__all__ = ["SessionDep", "get_session", "make_sessionmaker"]
