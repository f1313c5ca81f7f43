"""Sessions for orders-service: the shared kit's `get_session` is the one place that commits;
use cases that must act once their change is durable (refresh the cache after a PATCH) register
an `after_commit` hook, which runs after the commit and before the response is sent."""

from service_kit.db import SessionDep, after_commit, get_session, make_sessionmaker

__all__ = ["SessionDep", "after_commit", "get_session", "make_sessionmaker"]
