"""Sessions for orders-service: the shared kit's `unit_of_work` is the one place that commits,
through `SessionDep` (`get_session`) or in POST /orders/ itself; use cases that must act once
their change is durable (refresh the cache after a PATCH) register an `after_commit` hook, which
runs after the commit and before the response is sent. A read that the cache may answer takes
the app's sessionmaker instead (`app.state.sessionmaker`) and opens a session only on a miss."""

from service_kit.db import (
    SessionDep,
    after_commit,
    get_session,
    make_sessionmaker,
    unit_of_work,
)

__all__ = ["SessionDep", "after_commit", "get_session", "make_sessionmaker", "unit_of_work"]
