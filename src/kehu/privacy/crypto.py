"""Personal fields encrypted at rest (AES-256-GCM) and their keyed blind index (HMAC-SHA256).

A ciphertext is ``v1:`` + urlsafe base64 of nonce (12 bytes) + AES-GCM output; the field name is bound as associated
data, so a phone ciphertext cannot be replayed as an e-mail. The blind index of a normalised value is a hex HMAC, used
for search and de-duplication without storing the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kehu.config import Settings
from kehu.privacy.keys import derive_key, load_secret

_PREFIX = "v1:"


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts and decrypts personal fields; computes blind indexes."""

    encryption_key: bytes
    index_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        """The cipher for the configured secret (environment or key file)."""
        secret = load_secret(settings)
        return cls(derive_key(secret, "pii-encryption"), derive_key(secret, "blind-index"))

    def encrypt(self, field: str, value: str | None) -> str | None:
        """Ciphertext of ``value`` for ``field``; ``None`` and empty strings stay ``None``."""
        if value is None or value == "":
            return None
        nonce = os.urandom(12)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, value.encode(), field.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, field: str, token: str | None) -> str | None:
        """The plaintext of ``token`` for ``field``; raises ``cryptography.exceptions.InvalidTag`` if tampered."""
        if token is None:
            return None
        raw = base64.urlsafe_b64decode(token.removeprefix(_PREFIX).encode())
        return AESGCM(self.encryption_key).decrypt(raw[:12], raw[12:], field.encode()).decode()

    def blind_index(self, field: str, normalised: str | None) -> str | None:
        """Keyed hash (32 hex chars) of an already-normalised value, for equality search; ``None`` stays ``None``."""
        if not normalised:
            return None
        mac = hmac.new(self.index_key, f"{field}\x00{normalised}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]
