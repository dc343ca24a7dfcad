"""Property-based fuzzing of the whole API with schemathesis.

Every operation of /api/v1/openapi.json is called with generated valid and
invalid requests (bounded by max_examples so the suite stays fast) carrying
a live key of the scope it needs: no answer is a 5xx, every answer's status,
content type and body match the document, invalid input is refused with a
4xx, and dropping the key gets a 401.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection, ignored_auth]
MAX_EXAMPLES = 40


@pytest.fixture
def fuzz_keys(make_queue, make_key, make_user, client) -> dict[str, str]:
    """A queue, a few items in it, and a live key of every scope."""
    make_queue("support", audit_rate=0.0)
    reviewer = make_user("rita", "reviewer", queues=("support",))
    keys = {"submit": make_key("upstream", "submit"), "admin": make_key("ops", "admin"),
            "review": make_key("rita-key", "review", reviewer)}
    auth = {"Authorization": f"Bearer {keys['submit']}"}
    for confidence in (0.1, 0.95):
        client.post("/api/v1/items", headers=auth,
                    json={"queue": "support", "output": "ok", "confidence": confidence})
    return keys


def operations() -> list[tuple[str, str]]:
    import review.api  # noqa: F401  (every route module adds its operations on import)
    from review.api.openapi import PATHS

    return sorted((path, method) for path, ops in PATHS.items() for method in ops)


def scope_of(operation) -> str:
    """The scope the operation documents (`Needs a key of scope `x``)."""
    description = operation.definition.raw.get("description", "")
    found = re.search(r"scope `(\w+)`", description)
    return found.group(1) if found else "submit"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
@pytest.mark.parametrize("path, method", operations())
def test_api_fuzz(app, fuzz_keys, path, method, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method.upper()]
    headers = {"Authorization": f"Bearer {fuzz_keys[scope_of(operation)]}"}

    # The key is fixed, not generated: auth is tested apart (ignored_auth, test_authorisation).
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        # Only an unconstrained string path parameter: no request can be invalid.
        assert mode is GenerationMode.NEGATIVE
        pytest.skip("the operation has nothing that can be invalid")
