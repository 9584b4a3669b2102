"""Property-based calls of every operation in the OpenAPI document (schemathesis, in-process ASGI, as admin): no
input, valid or not, may cause a server error. Bounded: at most 20 examples per operation and generation mode, no
example database.

Each operation's Hypothesis strategy is driven directly (``APIOperation.as_strategy``) rather than through
``schemathesis.pytest.from_fixture``, whose pytest plugin reads a private attribute that pytest 9 removed.
"""

from __future__ import annotations

from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

pytestmark = pytest.mark.schemathesis

EXAMPLES = 20


def _exercise(operation: Any, headers: dict[str, str]) -> None:  # noqa: ANN401
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:  # noqa: ANN401
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    run()


def test_no_input_causes_a_server_error(api_settings, store) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from kehu.web import create_app

    app = create_app(api_settings)
    with TestClient(app) as client:
        token = client.post("/api/v1/token", data={"username": "admin", "password": "correct horse battery staple"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 21
        failures = []
        for operation in operations:
            try:
                _exercise(operation, headers)
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}")
        assert not failures, "\n\n".join(failures)
