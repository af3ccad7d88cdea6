"""The page in Firefox: Debian's firefox-esr, headless, driven over Marionette (Mozilla's `marionette-driver` from
PyPI speaks Firefox's own automation protocol: no geckodriver, no browser download) against a live server with the
echo LLM.

The user types the API key, uploads the sample portrait through the page and presses Start; Firefox's fake
microphone (a tone) feeds getUserMedia. The user then types a question, and the test sees it in the log, the
avatar speaking it back, and the remote video playing.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.test_browser import PORTRAIT, Live, live

__all__ = ["live"]  # the live-server fixture, shared with the Chromium test

FIREFOX = Path("/usr/bin/firefox-esr")
QUESTION = "Could you tell me what the weather will be like in Paris tomorrow afternoon?"

pytestmark = [pytest.mark.models,  # mozbase's own deprecations, nothing of ours
              pytest.mark.filterwarnings("ignore::DeprecationWarning:mozinfo|mozrunner")]

PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,  # the microphone is a generated tone
    "media.autoplay.default": 0,  # allow audible autoplay, as the user's click on Start would
    "media.peerconnection.ice.loopback": True,  # the server answers with 127.0.0.1 candidates only
}


@pytest.fixture(autouse=True)
def _firefox_and_driver() -> None:
    """`make test` installs both; a missing one is a broken set-up, not a reason to skip."""
    if not FIREFOX.exists():
        pytest.fail(f"{FIREFOX} is missing: run `make test` (it installs Debian's firefox-esr)")
    if importlib.util.find_spec("marionette_driver") is None:
        pytest.fail("marionette_driver is missing: run `make test` (it installs the dev extra's marionette-driver)")


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """A headless Firefox with a fresh profile and a Marionette session on it, and the path of its log."""
    from marionette_driver.marionette import Marionette

    log = tmp_path / "firefox.log"
    browser = Marionette(bin=str(FIREFOX), port=0, headless=True, prefs=PREFS, gecko_log=str(log),
                         workspace=str(tmp_path), startup_timeout=60)  # the profile too under tmp_path
    try:
        browser.start_session({"strictFileInteractability": False})  # the page's file input is hidden in a label
        browser.set_window_rect(width=1180, height=820)
        yield browser, log
    finally:
        browser.cleanup()


def allow_microphone(browser: Any, origin: str) -> None:
    """What a user's "Allow, and remember" does; with it Firefox also gathers loopback ICE candidates (without it
    only the default route's address, which cannot pair with the server's 127.0.0.1)."""
    with browser.using_context("chrome"):
        browser.execute_script(
            "const principal = Services.scriptSecurityManager.createContentPrincipalFromOrigin(arguments[0]);"
            "Services.perms.addFromPrincipal(principal, 'microphone', Services.perms.ALLOW_ACTION);", [origin])


def until(browser: Any, script: str, timeout: float = 60) -> Any:
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.execute_script(f"return {script};")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still falsy after {timeout} s: {script}")
        time.sleep(0.1)


def page_errors(log: Path, url: str) -> list[str]:
    """The page's uncaught errors and unhandled rejections, as Firefox logs them."""
    return [line for line in log.read_text(errors="replace").splitlines()
            if line.startswith(f"JavaScript error: {url}/")]


def test_a_typed_question_in_firefox(live: Live, firefox: tuple[Any, Path]) -> None:
    from marionette_driver.by import By
    from marionette_driver.keys import Keys

    browser, log = firefox
    browser.timeout.implicit = 10

    def find(selector: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, selector)

    def text(selector: str) -> str:
        return str(browser.execute_script("return document.querySelector(arguments[0]).textContent;", [selector]))

    allow_microphone(browser, live.url)
    browser.navigate(live.url + "/")
    find("[data-lang=en]").click()
    assert find("#start").text == "Start"
    until(browser, "!document.querySelector('#banner').hidden")  # no key yet: the 401 problem, shown readably
    assert "Unauthorized" in text("#banner") and "API key" in text("#banner")

    find("#api-key").send_keys(live.key + Keys.TAB)  # `change`: stored, lists reloaded with the key
    until(browser, "document.querySelectorAll('#talk-voice option').length > 1")
    assert browser.execute_script("return document.querySelector('#banner').hidden;")

    find("#avatar-file").send_keys(str(PORTRAIT))  # upload through the page
    until(browser, "document.querySelector('#talk-avatar').value.startsWith('av_')")
    until(browser, "!document.querySelector('#portrait').hidden && document.querySelector('#portrait').naturalWidth")
    assert browser.execute_script("return document.querySelector('#banner').hidden;"), text("#banner")
    find("#talk-language option[value=en]").click()

    find("#start").click()
    until(browser, "document.querySelector('#state').dataset.state === 'listening'")
    until(browser, "!document.querySelector('#say-text').disabled")
    find("#say-text").send_keys(QUESTION)
    find("#say-send").click()
    until(browser, "document.querySelector('.msg.user.final')")
    assert QUESTION in text(".msg.user.final")
    until(browser, "document.querySelector('#state').dataset.state === 'speaking'")
    until(browser, "document.querySelector('.msg.avatar')?.textContent.includes('Paris')")
    until(browser, "(() => { const v = document.querySelector('#remote');"
                   " return v.videoWidth > 0 && v.currentTime > 0 && !v.paused; })()")
    before = browser.execute_script("return document.querySelector('#remote').currentTime;")
    until(browser, f"document.querySelector('#remote').currentTime > {before} + 0.5", timeout=30)
    assert browser.execute_script("return document.querySelector('#remote').videoWidth;") == 512
    until(browser, f"document.querySelector('.msg.avatar').textContent.trim() === {QUESTION!r}")  # the echo LLM

    find("#stop").click()
    until(browser, "document.querySelector('#state').dataset.state === 'idle'")
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}) as http:
        deadline = time.monotonic() + 5
        while http.get("/v1/realtime/sessions").json() != [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/v1/realtime/sessions").json() == []
    assert browser.execute_script("return document.querySelector('#banner').hidden;"), text("#banner")
    assert not page_errors(log, live.url), page_errors(log, live.url)
