"""Settings for a stack that is never started: the `.env.example` values (without a developer's
.env), every port moved off its default, state under a temporary STACK_DIR."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from stack.settings import PORTS, ROOT, Settings
from stack_control.env import load_env

# 18000, 18020, ... for GATEWAY_PORT, AUTH_PORT, ...: none of them a default port, with room
# between them for the replicas' ports (stack_control.topology.port)
MOVED_PORTS = {f"{name}_PORT": str(18000 + 20 * i) for i, name in enumerate(PORTS)}
DEFAULT_PORTS = re.compile(r"\b(8000|8001|8002|8003|5432|6379|9092|9093)\b")


def moved_settings(tmp_path: Path) -> Settings:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(ROOT / ".env.example", config / ".env.example")
    env = load_env(config, environ=MOVED_PORTS)
    return Settings(ROOT, env, tmp_path / "stack", tmp_path / "kafka-home", is_root=False)
