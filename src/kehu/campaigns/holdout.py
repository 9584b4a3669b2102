"""The deterministic holdout: a hash of (campaign id, customer id) turned into a uniform number in [0, 1).

The same campaign and customer always give the same number, so the split can be recomputed and checked at any
time, does not depend on the order customers are read in, and differs between campaigns (a customer held out once is
not held out of every campaign). SHA-256 is used for its uniformity, not for secrecy.
"""

from __future__ import annotations

import hashlib

from kehu.errors import InvalidInput

#: The arms of a campaign.
TREATMENT = "treatment"
HOLDOUT = "holdout"
ARMS: tuple[str, ...] = (TREATMENT, HOLDOUT)
#: Holdout shares outside this range leave an arm too small to compare.
MIN_SHARE, MAX_SHARE = 0.0, 0.9


def draw(campaign_id: int, customer_id: int) -> float:
    """A number in [0, 1) fixed by the pair: the first 8 bytes of SHA-256(``"kehu-holdout:<campaign>:<customer>"``)
    as an unsigned integer, divided by 2⁶⁴."""
    digest = hashlib.sha256(f"kehu-holdout:{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_share(share: float) -> float:
    """``share`` when it is a holdout share kehu accepts (0 to 0.9); :class:`InvalidInput` otherwise."""
    if not isinstance(share, int | float) or share != share or not MIN_SHARE <= share <= MAX_SHARE:
        raise InvalidInput(f"holdout share {share!r} must be between 0 and 0.9 (e.g. 0.2 for 20%)")
    return float(share)


def arm(campaign_id: int, customer_id: int, share: float) -> str:
    """``holdout`` when the pair's :func:`draw` is below ``share``, else ``treatment``."""
    return HOLDOUT if draw(campaign_id, customer_id) < share else TREATMENT
