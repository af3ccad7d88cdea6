"""The page in a real browser: headless Chromium (Debian's, driven by Playwright) with a fake microphone playing a
spoken English question, against a live server with the echo LLM.

The user types the API key, uploads the sample portrait through the page, picks English and presses Start; the
test then sees the final transcript of the question, the avatar speaking, and the remote video playing. With
TALKER_SCREENSHOT set, a screenshot of the conversation is written to docs/realtime.png.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from talker.config import Settings
from talker.models.kit import ModelKit
from tests.live_server import serving

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
PORTRAIT = ROOT / "src" / "talker" / "data" / "sample_portrait.jpg"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "realtime.png"

pytestmark = pytest.mark.models


@pytest.fixture(autouse=True)
def _browser_and_speech() -> None:
    """`make test` installs both; a missing one is a broken set-up, not a reason to skip."""
    for needed, package in ((CHROMIUM, "chromium"), (SPEECH, "pocketsphinx-testdata")):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run `make test` (it installs Debian's {package})")


@dataclass(frozen=True)
class Live:
    url: str
    key: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, settings: Settings, kit: ModelKit) -> Iterator[Live]:
    """The app under uvicorn with the echo LLM; keys required; ICE on 127.0.0.1 only (no LAN traffic)."""
    from talker.server.app import create_app, keys_path
    from talker.server.keys import KeyStore

    own = settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("web-browser-data"),
        "llm": settings.llm.model_copy(update={"backend": "echo"}),
        "server": settings.server.model_copy(update={"rate_per_minute": 10_000}),
    })
    store = KeyStore(keys_path(own))
    _, key = store.create("browser")
    store.close()
    with serving(create_app(own, require_keys=True), loopback_ice=True) as url:
        yield Live(url, key)


@pytest.fixture(scope="module")
def question(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The microphone's file (Chromium loops it): 1 s of silence, the question, then 40 s of silence."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(SPEECH, dtype="float32")
    audio = np.asarray(soxr.resample(audio, rate, 48000), dtype=np.float32)
    padded = np.concatenate([np.zeros(48000, np.float32), audio, np.zeros(48000 * 40, np.float32)])
    path = tmp_path_factory.mktemp("web-mic") / "question.wav"
    sf.write(path, padded, 48000, subtype="PCM_16")
    return path


def _chromium_args(question: Path) -> list[str]:
    return ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={question}",
            "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]


def test_a_spoken_question_in_the_browser(live: Live, question: Path, tmp_path: Path) -> None:
    import playwright.sync_api as sync_api
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=_chromium_args(question))
        try:
            page = browser.new_page(viewport={"width": 1180, "height": 820})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.set_default_timeout(60_000)
            page.goto(live.url + "/")
            page.click("[data-lang=en]")
            assert page.locator("#start").inner_text() == "Start"
            banner = page.locator("#banner")
            banner.wait_for()  # no key yet: the 401 problem, shown readably
            assert "Unauthorized" in banner.inner_text() and "API key" in banner.inner_text()
            assert "{" not in banner.inner_text()
            problems.clear()  # the browser logs those 401s on its console
            page.fill("#api-key", live.key)
            page.press("#api-key", "Tab")  # `change`: stored, lists reloaded with the key
            page.wait_for_function("document.querySelectorAll('#talk-voice option').length > 1")
            assert banner.is_hidden()

            page.set_input_files("#avatar-file", str(PORTRAIT))  # upload through the page
            page.wait_for_function("document.querySelector('#talk-avatar').value.startsWith('av_')")
            assert banner.is_hidden(), banner.inner_text()
            page.wait_for_selector("#portrait", state="visible")  # its preview, fetched with the key
            page.select_option("#talk-language", "en")

            page.click("#start")
            final = page.locator(".msg.user.final").first
            final.wait_for()
            assert "disposed" in final.inner_text().lower()
            page.wait_for_selector("#state[data-state=speaking]")
            page.wait_for_function("document.querySelector('.msg.avatar')?.textContent.length > 0")
            page.wait_for_function("(() => { const v = document.querySelector('#remote');"
                                   " return v.videoWidth > 0 && v.currentTime > 0 && !v.paused; })()")
            before = page.evaluate("document.querySelector('#remote').currentTime")
            page.wait_for_timeout(1000)
            after = page.evaluate("document.querySelector('#remote').currentTime")
            assert after > before + 0.5, (before, after)
            assert page.evaluate("document.querySelector('#remote').videoWidth") == 512
            if os.environ.get("TALKER_SCREENSHOT"):
                page.wait_for_selector("#latency:not(:empty)", timeout=30_000)
                page.screenshot(path=str(tmp_path / "realtime.png"))
                shutil.copyfile(tmp_path / "realtime.png", SCREENSHOT)
            assert "disposed" in page.locator(".msg.avatar").first.inner_text().lower()  # the echo LLM

            page.click("#stop")
            page.wait_for_selector("#state[data-state=idle]")
            with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}) as http:
                for _ in range(100):
                    if http.get("/v1/realtime/sessions").json() == []:
                        break
                    time.sleep(0.05)
                assert http.get("/v1/realtime/sessions").json() == []
            assert banner.is_hidden(), banner.inner_text()
        finally:
            browser.close()
    assert not problems, problems


def test_an_explainer_video_in_chinese(live: Live, question: Path) -> None:
    """The video tab with the Chinese UI: a script in, a progress bar, a downloadable MP4 out."""
    import playwright.sync_api as sync_api
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}, timeout=60) as http:
        created = http.post("/v1/avatars", content=PORTRAIT.read_bytes(), params={"name": "主持人"})
        assert created.status_code == 201, created.text
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=_chromium_args(question))
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.add_init_script(f"localStorage.setItem('talker.apiKey', {live.key!r})")
            page.set_default_timeout(60_000)
            page.goto(live.url + "/")
            page.click("[data-lang=zh]")
            assert page.locator("html").get_attribute("lang") == "zh-CN"
            page.click("#tab-video")
            assert page.locator("#video-make").inner_text() == "生成视频"
            page.wait_for_function("document.querySelector('#video-avatar').value.startsWith('av_')")
            assert page.locator("#video-avatar option:checked").inner_text() == "主持人"
            page.fill("#video-text", "大家好，我是小慧。")
            page.select_option("#video-size", "384")
            page.click("#video-make")
            page.wait_for_selector("#video-job", state="visible", timeout=10_000)
            page.wait_for_selector("#video-download", state="visible")
            assert page.locator("#video-percent").inner_text() == "100 %"
            assert page.locator("#video-stage").inner_text() == "完成"
            assert page.locator("#video-download").get_attribute("href").startswith("blob:")
            assert page.locator("#video-download").get_attribute("download").endswith(".mp4")
            page.wait_for_function("document.querySelector('#video-result').duration > 0.5")
            assert page.evaluate("document.querySelector('#video-result').videoWidth") == 384
            assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()
        finally:
            browser.close()
    assert not problems, problems
