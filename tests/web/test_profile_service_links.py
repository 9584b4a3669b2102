"""The customer profile links to the customer's feedback and tasks, by role."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


def _links(html: str) -> list[str]:
    block = re.search(r'data-field="service_links">(.*?)</ul>', html, re.S)
    return re.findall(r'href="([^"]+)"', block.group(1)) if block else []


@pytest.mark.parametrize(("role", "expected"), [
    ("agent", ["/feedback/items", "/feedback/new", "/tasks?", "/tasks/new"]),
    ("analyst", ["/feedback/items", "/tasks?"]),
    ("viewer", None),
])
def test_service_links_follow_the_role(client: TestClient, fx, web_settings, helpers, store, role: str,
                                       expected: list[str] | None) -> None:  # type: ignore[no-untyped-def]
    fx.add_user(web_settings, role, role)
    helpers.sign_in(client, role)
    response = client.get(f"/customers/{store.vip_id}?lang=en")
    if expected is None:
        assert response.status_code == 403
        return
    links = _links(response.text)
    assert len(links) == len(expected)
    for link, start in zip(links, expected, strict=True):
        assert link.startswith(start) and f"customer_id={store.vip_id}" in link


def test_profile_shows_the_membership_card(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert f'data-membership="{store.vip_id}"' in html
