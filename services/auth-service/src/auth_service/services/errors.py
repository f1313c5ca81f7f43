"""auth-service domain errors; service_kit maps them to JSON (401 adds WWW-Authenticate).

A token that does not verify is service_kit's `InvalidToken`, the answer every service gives.
"""

from __future__ import annotations

from service_kit.errors import Conflict, Unauthorized


class EmailTaken(Conflict):
    detail = "email already registered"


class InvalidCredentials(Unauthorized):
    detail = "incorrect email or password"
