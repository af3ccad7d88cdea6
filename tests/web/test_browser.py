"""The page in a real browser: headless Chromium (Debian's, driven by Playwright) with a fake microphone playing
spoken English (LibriVox sentences), against a live server with the echo LLM.

The user types the API key, uploads the sample portrait through the page, picks English and presses Start; the
test then sees the final transcript of the question, the avatar speaking, and the remote video playing. With
TALKER_SCREENSHOT set, a screenshot of the conversation is written to docs/realtime.png. A second voice then
talks over a (read back) answer, and the avatar stops: a barge-in. The video tab is checked in Chinese.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

from talker.config import Settings
from talker.models.kit import ModelKit
from tests.live_server import serving

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SPEECH = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # "he was not an ill disposed young man"
# "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do
# for them": 7 s, so its reading back gives the second voice time to talk over it
LONG_QUESTION = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"
# "unless to be rather cold hearted and rather selfish is to be ill disposed"
OTHER_VOICE = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0890.wav"
PORTRAIT = ROOT / "src" / "talker" / "data" / "sample_portrait.jpg"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "realtime.png"
TALKOVER = Path(__file__).with_name("talkover.js")  # the microphone the test speaks into; the page's events

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


def _chromium_args(microphone: Path | None) -> list[str]:
    """Quiet, sandbox-free Chromium that grants the microphone; `microphone` is the fake one's WAV file."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required"]
    if microphone is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone}")
    return args


@contextlib.contextmanager
def _browser_page(problems: list[str], microphone: Path | None = None, key: str | None = None,
                  **options: Any) -> Iterator[Page]:
    """A page in headless Chromium, with `key` already stored if given; its script errors and console errors
    are appended to `problems`."""
    import playwright.sync_api as sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=_chromium_args(microphone))
        try:
            page = browser.new_page(**options)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.set_default_timeout(60_000)
            if key is not None:
                page.add_init_script(f"localStorage.setItem('talker.apiKey', {key!r})")
            yield page
        finally:
            browser.close()


def _wait_for_lists(page: Page) -> None:
    """The voices and portraits, loaded with the key."""
    page.wait_for_function("document.querySelectorAll('#talk-voice option').length > 1")
    assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()


def _api(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}, timeout=60)


def _upload_portrait_and_start(page: Page, live: Live) -> None:
    """Upload the sample portrait through the page, pick English and press Start."""
    with _api(live) as http:
        known = [avatar["id"] for avatar in http.get("/v1/avatars").json()]  # from earlier tests
    page.set_input_files("#avatar-file", str(PORTRAIT))
    page.wait_for_function("known => { const id = document.querySelector('#talk-avatar').value;"
                           " return id.startsWith('av_') && !known.includes(id); }", arg=known)
    assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()
    page.wait_for_selector("#portrait", state="visible")  # its preview, fetched with the key
    page.select_option("#talk-language", "en")
    page.click("#start")


def _wait_for_live_video(page: Page) -> None:
    page.wait_for_function("(() => { const v = document.querySelector('#remote');"
                           " return v.videoWidth > 0 && v.currentTime > 0 && !v.paused; })()")


def _avatar_level(page: Page, wanted: Callable[[float], bool], meanwhile: Callable[[], None] = lambda: None) -> float:
    """The RMS level (full scale 1) of the avatar's audio as the browser receives it, 0.3 s of it at a time,
    until a level is `wanted` (it is returned); `meanwhile` is called before each 0.3 s."""
    levels: list[float] = []
    for _ in range(100):
        meanwhile()
        levels.append(float(page.evaluate("window.__talk.loudness(0.3)")))
        if wanted(levels[-1]):
            return levels[-1]
    pytest.fail(f"the avatar's audio never reached the level looked for: {levels}")


def _end(page: Page, live: Live) -> None:
    """Press End: the page goes idle and the server has no session left."""
    page.click("#stop")
    page.wait_for_selector("#state[data-state=idle]")
    with _api(live) as http:
        for _ in range(100):
            if http.get("/v1/realtime/sessions").json() == []:
                break
            time.sleep(0.05)
        assert http.get("/v1/realtime/sessions").json() == []
    assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()


def test_a_spoken_question_in_the_browser(live: Live, question: Path, tmp_path: Path) -> None:
    problems: list[str] = []
    with _browser_page(problems, question, viewport={"width": 1180, "height": 820}) as page:
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
        _wait_for_lists(page)
        _upload_portrait_and_start(page, live)

        final = page.locator(".msg.user.final").first
        final.wait_for()
        assert "disposed" in final.inner_text().lower()
        page.wait_for_selector("#state[data-state=speaking]")
        page.wait_for_function("document.querySelector('.msg.avatar')?.textContent.length > 0")
        _wait_for_live_video(page)
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
        _end(page, live)
    assert not problems, problems


def test_a_second_voice_talks_over_the_answer_and_the_avatar_stops(live: Live) -> None:
    """The microphone (an AudioContext stream the test plays WAV files into, see talkover.js) asks a long
    question; while the avatar reads it back, a different voice talks over it: the page gets `interrupted`
    (barge-in), goes back to listening, and the avatar's audio, as the browser receives it, goes quiet."""
    problems: list[str] = []
    with _browser_page(problems, key=live.key) as page:
        page.add_init_script(path=str(TALKOVER))
        page.route(f"{live.url}/test-microphone/*", lambda route: route.fulfill(
            path=str(LIBRIVOX / route.request.url.rsplit("/", 1)[1]), content_type="audio/wav"))
        page.goto(live.url + "/")
        page.click("[data-lang=en]")
        _wait_for_lists(page)
        _upload_portrait_and_start(page, live)
        page.wait_for_selector("#log .system")  # the server's hello: the conversation is on
        _wait_for_live_video(page)

        page.evaluate("url => window.__mic.play(url)", f"{live.url}/test-microphone/{LONG_QUESTION.name}")
        final = page.locator(".msg.user.final").first
        final.wait_for()
        assert "dashwood" in final.inner_text().lower()
        page.wait_for_selector("#state[data-state=speaking]")
        # Past the opener ("Well,"), into the answer itself: its first piece is shown as its audio starts.
        page.wait_for_function("document.querySelector('#log .msg.avatar')?.textContent.length > 0")
        speaking = _avatar_level(page, lambda level: level > 0.01)

        page.evaluate("url => window.__mic.play(url)", f"{live.url}/test-microphone/{OTHER_VOICE.name}")
        page.wait_for_function("window.__talk.events.some((e) => e.type === 'interrupted')")
        events: list[dict[str, Any]] = page.evaluate("window.__talk.events")
        cut_at = next(i for i, e in enumerate(events) if e["type"] == "interrupted")
        cut = events[cut_at]
        assert cut["reason"] == "barge-in", cut
        states = [e["state"] for e in events[cut_at + 1:] if e["type"] == "state"]
        assert states[:1] == ["listening"], events[cut_at:]
        assert cut["heard_chars"] < len(final.inner_text()), cut  # the echo LLM's answer is the question
        page.wait_for_selector("#log .msg.avatar.cut")
        assert page.locator("#log .system").last.inner_text() == "interrupted (barge-in)"
        page.wait_for_selector("#state[data-state=listening]")

        def not_answering_again() -> None:  # the second voice gets its answer too, but only once it has ended
            later = page.evaluate("from => window.__talk.events.slice(from)", cut_at + 1)
            assert all(e.get("state", "listening") == "listening" for e in later), f"answering again: {later}"

        _avatar_level(page, lambda level: level < speaking / 10, not_answering_again)  # the audio in flight plays out
        _end(page, live)
    assert not problems, problems


def test_an_explainer_video_in_chinese(live: Live) -> None:
    """The video tab with the Chinese UI: a script in, a progress bar, a downloadable MP4 out."""
    with _api(live) as http:
        created = http.post("/v1/avatars", content=PORTRAIT.read_bytes(), params={"name": "主持人"})
        assert created.status_code == 201, created.text
    problems: list[str] = []
    with _browser_page(problems, key=live.key) as page:
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
        assert (page.locator("#video-download").get_attribute("href") or "").startswith("blob:")
        assert (page.locator("#video-download").get_attribute("download") or "").endswith(".mp4")
        page.wait_for_function("document.querySelector('#video-result').duration > 0.5")
        assert page.evaluate("document.querySelector('#video-result').videoWidth") == 384
        assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()
    assert not problems, problems
