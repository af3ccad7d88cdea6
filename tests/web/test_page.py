"""The page at `/` and its two static files are served with the right types, without a key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from talker.config import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[TestClient]:
    from talker.server.app import create_app

    own = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("web-data")})
    with TestClient(create_app(own, require_keys=True)) as http:
        yield http


def test_the_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<script type="module" src="/web/app.js">' in html
    assert 'href="/web/style.css"' in html
    for element in ("api-key", "talk-avatar", "talk-voice", "start", "stop", "remote", "video-text", "video-progress"):
        assert f'id="{element}"' in html, element

    script = client.get("/web/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")  # modules need a JavaScript MIME type
    assert "talker.realtime/1" in script.text and "/v1/realtime/sessions" in script.text
    style = client.get("/web/style.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in (page, script, style))


def test_the_api_still_wants_a_key_and_unknown_files_are_problems(client: TestClient) -> None:
    assert client.get("/v1/avatars").status_code == 401
    missing = client.get("/web/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "/" not in client.get("/openapi.json").json()["paths"]
