"""Shared by unit and integration tests.

`auth_service.main` builds an app from the environment when it is imported; point that app's
dev key at a throw-away directory and keep its bcrypt cost low, before any test imports it.
"""

import atexit
import os
import shutil
import tempfile

_KEY_DIR = tempfile.mkdtemp(prefix="auth-keys-")
atexit.register(shutil.rmtree, _KEY_DIR, ignore_errors=True)
os.environ["AUTH_JWT_KEY_DIR"] = _KEY_DIR
os.environ["AUTH_BCRYPT_ROUNDS"] = "4"
