"""Sessions for orders-service: the shared kit's `get_session` is the one place that commits."""

from service_kit.db import get_session, make_sessionmaker

__all__ = ["get_session", "make_sessionmaker"]
