"""The secret key of a process started without `SECRET_KEY` (N6).

No key from the repository is ever used. The embedded default (`make run`) and the tests make
a random key at their first start and keep it in the var directory, readable by its owner only,
so sessions and signed links survive a restart. Production sets `SECRET_KEY`: `web` refuses to
start without it (ops/management/commands/web.py), and `check --deploy` says so too
(ops/checks.py). Imported by settings.py: nothing from Django here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "secret_key"


def var_dir_secret_key(var_dir: Path) -> str:
    """The key kept in `var_dir`, made (50 random characters, file mode 0600) if missing."""
    path = var_dir / FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    # Written to a private temporary file, then linked into place: the link fails if another
    # process (a second `run`, a test's subprocess) made the key first, and nobody ever reads
    # a half-written key.
    temporary = var_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to have a new secret key made.")
    return key
