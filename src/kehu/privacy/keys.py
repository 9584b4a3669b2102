"""The secret behind encryption, blind indexes and session signing.

It comes from ``KEHU_SECRET_KEY`` or from ``<data_dir>/secret.key``, created once with mode 0600. Separate keys for
each use are derived from it with HKDF, so one secret never serves two purposes directly.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kehu.config import Settings
from kehu.errors import InvalidInput

KEY_FILE = "secret.key"


def load_secret(settings: Settings) -> bytes:
    """The master secret: ``settings.secret_key`` or the key file, created with mode 0600 when missing."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    text = path.read_text().strip()
    if len(text) < 32:
        raise InvalidInput(f"key file {path} holds fewer than 32 characters; delete it only if no data uses it")
    return text.encode()


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose`` ("pii-encryption", "blind-index", "session") derived with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kehu", info=purpose.encode()).derive(secret)
