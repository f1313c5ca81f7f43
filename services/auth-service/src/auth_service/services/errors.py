"""auth-service domain errors; service_kit maps them to JSON (401 adds WWW-Authenticate)."""

from __future__ import annotations

from service_kit.errors import Conflict, Unauthorized


class EmailTaken(Conflict):
    detail = "email already registered"


class InvalidCredentials(Unauthorized):
    detail = "incorrect email or password"


class InvalidToken(Unauthorized):
    detail = "invalid or expired token"
