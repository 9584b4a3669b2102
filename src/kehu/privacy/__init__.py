"""Personal data protection: encryption at rest, blind indexes, normalisation and masking."""

from kehu.privacy.crypto import FieldCipher
from kehu.privacy.masking import mask_email, mask_name, mask_phone
from kehu.privacy.normalise import is_mainland_mobile, normalise_email, normalise_phone

__all__ = [
    "FieldCipher",
    "is_mainland_mobile",
    "mask_email",
    "mask_name",
    "mask_phone",
    "normalise_email",
    "normalise_phone",
]
