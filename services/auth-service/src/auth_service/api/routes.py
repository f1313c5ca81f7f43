"""HTTP routes of auth-service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
