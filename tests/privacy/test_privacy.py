"""Normalising, masking, encrypting and blind-indexing personal values."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from kehu.config import Settings
from kehu.privacy import FieldCipher, is_mainland_mobile, mask_email, mask_name, mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("'13812345678", "13812345678"),  # Taobao's leading apostrophe
        ('="13812345678"', "13812345678"),  # Excel text wrapping
        ("+1 617 555 0101", "+1 617 555 0101"),  # another country: kept as given, not taken for a mobile
        ("010-12345678", "010-12345678"),  # a landline: kept as given
        ("", None),
        ("   ", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_mainland_mobile_rule() -> None:
    assert is_mainland_mobile("13812345678") and not is_mainland_mobile("12812345678")
    assert not is_mainland_mobile("1381234567") and not is_mainland_mobile(None)


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三丰") == "张**" and mask_name("张") == "张*"
    assert mask_email("alice@example.com") == "a****@example.com"
    assert mask_phone(None) == mask_name(None) == ""


@given(st.text(min_size=1, max_size=200))
def test_encrypt_round_trip(value: str) -> None:
    cipher = FieldCipher(b"k" * 32, b"i" * 32)
    token = cipher.encrypt("name", value)
    assert token is not None and token.startswith("v1:")
    assert cipher.decrypt("name", token) == value


def test_ciphertext_is_bound_to_its_field() -> None:
    cipher = FieldCipher(b"k" * 32, b"i" * 32)
    token = cipher.encrypt("phone", "13812345678")
    with pytest.raises(InvalidTag):
        cipher.decrypt("email", token)


def test_blind_index_is_keyed_and_stable() -> None:
    a, b = FieldCipher(b"k" * 32, b"i" * 32), FieldCipher(b"k" * 32, b"j" * 32)
    assert a.blind_index("phone", "13812345678") == a.blind_index("phone", "13812345678")
    assert a.blind_index("phone", "13812345678") != b.blind_index("phone", "13812345678")
    assert a.blind_index("phone", None) is None


def test_key_file_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", _env_file=None)
    first = FieldCipher.from_settings(settings)
    key_file = tmp_path / "d" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert FieldCipher.from_settings(settings) == first
