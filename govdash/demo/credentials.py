"""The demo users' passwords, kept in ``.demo/credentials.json`` between runs.

Free of Django imports so that ``scripts/demo.py`` can print them without
setting Django up. The file is readable by its owner only; ``.demo/`` is
gitignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[2] / ".demo" / "credentials.json"


@dataclass(frozen=True)
class Credential:
    role: str
    username: str
    password: str


class CredentialsError(ValueError):
    """The file exists but cannot be read as demo credentials."""


def load(path: Path = DEFAULT_PATH) -> list[Credential]:
    """The stored credentials, in the order they were written; none if no file yet."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [
            Credential(
                role=str(item["role"]),
                username=str(item["username"]),
                password=str(item["password"]),
            )
            for item in raw.get("users", [])
        ]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CredentialsError(f"{path} is not a demo credentials file ({exc})") from None


def save(credentials: list[Credential], path: Path = DEFAULT_PATH) -> None:
    """Write the file atomically, never world-readable, not even for an instant."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = {
        "users": [
            {"role": c.role, "username": c.username, "password": c.password} for c in credentials
        ]
    }
    # mkstemp creates the file with mode 0600.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    path.chmod(0o600)


def format_table(credentials: list[Credential]) -> str:
    headers = ("role", "username", "password")
    rows = [(c.role, c.username, c.password) for c in credentials]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
