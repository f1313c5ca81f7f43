"""HTTP routes of orders-service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
