"""`python infra/native/stack COMMAND`: the native stack's command line (`cli.py`)."""

import sys
from pathlib import Path

# Run as a folder, Python puts the folder itself first on sys.path, where `supervisor.py` and
# `kafka.py` would stand in for packages of those names: put its parent there instead, and
# import the folder as the package `stack`.
_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path[0] = str(_HERE.parent)

from stack.cli import main  # noqa: E402 (needs the path above)

sys.exit(main())
