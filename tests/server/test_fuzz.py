"""Property-based fuzzing of every route against the OpenAPI schema: no 5xx, no schema violations."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from talker.config import Settings

pytestmark = pytest.mark.models
EXAMPLES = 12  # per operation; enough to find the shapes that break, small enough for CI


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> object:
    from talker.server.app import create_app

    # The LLM is the echo backend and texts are kept short: this is about the protocol, not the models' speed.
    fuzzed = settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("fuzz-data"),
        "llm": settings.llm.model_copy(update={"backend": "echo"}),
        "server": settings.server.model_copy(update={"max_text_chars": 60, "rate_per_minute": 1_000_000}),
    })
    from talker.server.app import keys_path
    from talker.server.keys import KeyStore

    store = KeyStore(keys_path(fuzzed))
    _, secret = store.create("fuzz")
    store.close()
    api = schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzzed, require_keys=True))
    return api, secret


def test_api_conforms_to_its_schema(api_schema: tuple[object, str]) -> None:
    """Every operation, a bounded number of generated requests each: no 5xx, responses as documented."""
    from hypothesis import given
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    schema, secret = api_schema
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[attr-defined]
    assert len(operations) >= 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            # Uploads are bytes and ids are opaque strings: the schema cannot say which are usable, so a
            # schema-valid request may rightly be refused (415, 422); every other check applies.
            case.call_and_validate(headers={"Authorization": f"Bearer {secret}"},
                                   excluded_checks=[positive_data_acceptance])

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # collect them all: one run shows every broken operation
            failures.append(f"{operation.label}: {str(error)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_schema_documents_every_route(api_schema: tuple[object, str]) -> None:
    paths = set(api_schema[0].raw_schema["paths"])  # type: ignore[attr-defined]
    assert {"/v1/avatars", "/v1/videos", "/v1/videos/{job_id}/events", "/v1/tts", "/v1/asr", "/v1/voices",
            "/v1/chat/sessions/{session_id}/messages", "/v1/knowledge/documents", "/v1/chat/completions",
            "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/models", "/v1/health", "/v1/info"} <= paths
    assert Path  # the module's imports stay used when routes are added
