"""Signed answer links: one token per (survey, customer), made with :mod:`itsdangerous`.

The signing key is derived from the store's secret for the purpose ``survey``
(``derive_key(load_secret(settings), "survey")``), so a token cannot be made without the secret and a changed byte
breaks the signature. A token holds only the two store ids (no personal data) and does not expire: a survey stops
taking answers when it is closed, and each customer can answer once (the database holds that).
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from kehu.config import Settings
from kehu.errors import KehuError
from kehu.privacy.keys import derive_key, load_secret

SALT = "kehu-survey-answer"


class InvalidLink(KehuError):
    """A survey link whose signature does not check: mistyped, cut short or forged."""

    status = 404


def serializer(key: bytes) -> URLSafeSerializer:
    """The serializer for answer links signed with ``key`` (32 bytes, see :func:`survey_key`)."""
    return URLSafeSerializer(key, salt=SALT)


def survey_key(settings: Settings) -> bytes:
    """The key that signs answer links: HKDF of the secret for the purpose ``survey``."""
    return derive_key(load_secret(settings), "survey")


def make_token(key: bytes, survey_id: int, customer_id: int) -> str:
    """The token of the answer link of ``customer_id`` for ``survey_id``."""
    return str(serializer(key).dumps([int(survey_id), int(customer_id)]))


def read_token(key: bytes, token: str) -> tuple[int, int]:
    """(survey id, customer id) of a token; :class:`InvalidLink` when it is not one of ours."""
    if not token or len(token) > 200:
        raise InvalidLink("this survey link is not valid; please use the link exactly as you received it")
    try:
        value = serializer(key).loads(token)
    except BadSignature:
        raise InvalidLink("this survey link is not valid; please use the link exactly as you received it") from None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise InvalidLink("this survey link is not valid; please use the link exactly as you received it")
    return int(value[0]), int(value[1])
