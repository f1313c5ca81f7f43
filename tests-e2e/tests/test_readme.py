"""The README tells the truth: its curl examples run against the stack, in order, and succeed."""

from __future__ import annotations

import re
import subprocess
import uuid

from tests.clients import ROOT, Stack

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_the_curl_examples_run_in_order_and_succeed(stack: Stack) -> None:
    blocks = _shell_blocks(_section("Try it"))
    script = "\n".join(blocks)
    assert script.count("curl ") >= 6
    # A fresh address for each run (the example's would be taken the second time), the stack's
    # gateway, and curl failing on any HTTP error so that every example has to succeed.
    script = script.replace("ada@example.com", f"ada-{uuid.uuid4().hex[:8]}@example.com")
    script = script.replace("http://127.0.0.1:8000", stack.gateway)
    prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 20 "$@"; }\n'
    result = subprocess.run(
        ["bash", "-c", prelude + script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status":"PAID"' in result.stdout.replace(" ", "")


def test_every_variable_of_env_example_is_explained_in_the_readme() -> None:
    documented = _section("Configuration")
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert names
    missing = [
        name
        for name in names
        if name not in documented
        and not any(
            pattern.replace("<SERVICE>", svc) in name
            for pattern in re.findall(r"`(<SERVICE>_[A-Z_]+)", documented)
            for svc in ("AUTH", "ORDERS", "PROCESSOR")
        )
    ]
    assert missing == [], f"not explained in README's Configuration: {missing}"


def test_the_quick_start_commands_exist() -> None:
    quick = _section("Quick start")
    assert "docker compose up --build" in quick
    targets = set(re.findall(r"^make ([a-z-]+)", quick, re.M))
    makefile = (ROOT / "Makefile").read_text()
    assert {"dev-up", "test", "test-compose"} <= targets
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.M), target
