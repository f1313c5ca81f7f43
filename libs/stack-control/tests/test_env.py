"""The stack's configuration reader: python-dotenv's parsing, .env over .env.example over nothing,
the environment over both, and ${NAME} resolved after the merge."""

from __future__ import annotations

from pathlib import Path

from stack_control.env import load_env


def test_env_overrides_the_example_and_references_see_the_override(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        "DB_PASSWORD=dev-only\n"
        "PORT=5432\n"
        "DATABASE_URL=postgresql://app:${DB_PASSWORD}@127.0.0.1:${PORT}/app\n"
        "FALLBACK=${UNSET:-plan-b}\n"
    )
    (tmp_path / ".env").write_text(
        'DB_PASSWORD="s3cret"  # quoted, with a comment\nPORT=6543 # inline comment\n'
    )
    env = load_env(tmp_path, environ={})
    assert env["DB_PASSWORD"] == "s3cret"
    assert env["PORT"] == "6543"
    assert env["DATABASE_URL"] == "postgresql://app:s3cret@127.0.0.1:6543/app"
    assert env["FALLBACK"] == "plan-b"


def test_the_environment_wins_and_is_taken_literally(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\nB=${A}\n")
    env = load_env(tmp_path, environ={"A": "2", "C": "${A}"})
    assert env == {"A": "2", "B": "2", "C": "${A}"}


def test_no_files_no_values(tmp_path: Path) -> None:
    assert load_env(tmp_path, environ={}) == {}
