"""LLM backends with the real local model (Gemma 3 270M) and a real OpenAI-compatible server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from talker.config import Settings
from talker.dialogue.llm import (
    LOOKAHEAD,
    Cancel,
    ChatRequest,
    EchoLLM,
    Exchange,
    LocalLLM,
    OpenAICompatibleLLM,
    create_local,
    few_shot_prompt,
)
from talker.dialogue.shaping import speakable
from talker.errors import InputError
from talker.text.lang import detect_language

EXAMPLES = (
    Exchange("你好，你是谁？", "你好！我是数字人小慧，很高兴为你服务。"),
    Exchange("What can you do?", "I can answer your questions in Chinese or English."),
)


@pytest.fixture(scope="module")
def local(settings: Settings) -> LocalLLM:
    return create_local(settings)


async def _answer(llm: object, request: ChatRequest, cancel: Cancel | None = None) -> list[str]:
    return [d async for d in llm.stream(request, cancel or Cancel())]  # type: ignore[attr-defined]


async def test_answers_in_the_language_of_the_question(local: LocalLLM) -> None:
    """A 270M base model still drifts now and then: at least 9 of 10 answers keep the question's language."""
    questions = [("请介绍一下你自己。", "zh"), ("你们几点开门？", "zh"), ("我想办一张银行卡。", "zh"),
                 ("今天天气怎么样？", "zh"), ("你喜欢什么颜色？", "zh"),
                 ("Please introduce yourself.", "en"), ("When do you open?", "en"), ("I want a new card.", "en"),
                 ("What's the weather like?", "en"), ("What colour do you like?", "en")]
    wrong = []
    for question, language in questions:
        answer = "".join(await _answer(local, ChatRequest(question, language, examples=EXAMPLES, seed=7)))
        if not answer.strip() or detect_language(answer) != language:
            wrong.append((question, answer))
    assert len(wrong) <= 1, wrong


def test_earlier_turns_in_the_other_language_stay_out_of_the_prompt() -> None:
    """A base model answers in the language of its context: an English question after Chinese turns came back
    in Chinese (every retry too) while those turns were in the prompt."""
    history = (Exchange("今天天气怎么样？", "今天天气很好，阳光明媚。"), Exchange("What time is it?", "It is ten."))
    english = few_shot_prompt(ChatRequest("Do you speak English?", "en", examples=EXAMPLES, history=history))
    chinese = few_shot_prompt(ChatRequest("你会说英语吗？", "zh", examples=EXAMPLES, history=history))
    assert "阳光明媚" not in english and "It is ten." in english
    assert "阳光明媚" in chinese and "It is ten." not in chinese


def test_the_prompt_ends_its_introduction_in_the_reply_language() -> None:
    """Without examples, the introduction was the last text before the dialogue, and in English for every reply."""
    for question, language in (("你们几点开门？", "zh"), ("When do you open?", "en")):
        intro = few_shot_prompt(ChatRequest(question, language)).split("\n\n")[0].splitlines()
        assert detect_language(intro[-1]) == language and detect_language(intro[0]) != language


async def test_a_start_in_the_wrong_language_is_dropped_whole_plumbing(local: LocalLLM,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted attempts instead of the model: the first opens in English, the retry in Chinese."""
    attempts = iter([["Hello, ", "how are ", "you today?"], ["你好，", "我是小慧，", "很高兴认识你。"]])

    async def scripted(request: ChatRequest, cancel: Cancel) -> Any:
        for delta in next(attempts):
            yield delta

    monkeypatch.setattr(local, "_attempt", scripted)
    assert "".join(await _answer(local, ChatRequest("你是谁？", "zh"))) == "你好，我是小慧，很高兴认识你。"
    assert local.language_retries == 1
    attempts = iter([["Hello!"], ["你好！"]])  # too short to reach the check while streaming: checked at the end
    assert "".join(await _answer(local, ChatRequest("你是谁？", "zh"))) == "你好！"


async def test_the_model_runs_at_most_a_sentence_ahead_of_its_reader_plumbing(
        local: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for llama.cpp that would produce 100 deltas at once: while the reader is busy (speaking the
    first piece), only LOOKAHEAD more are made; then everything still arrives, in order."""
    import asyncio
    import threading

    class Eager:
        def __init__(self) -> None:
            self.reached = {count: threading.Event() for count in (LOOKAHEAD + 1, LOOKAHEAD + 2)}
            self.produced = 0

        def handle_completions(self, prompt: dict[str, Any], on_chunk: Any) -> None:
            for index in range(100):
                if on_chunk({"choices": [{"text": f"{index},"}]}):
                    return
                self.produced += 1
                if self.produced in self.reached:
                    self.reached[self.produced].set()

    server = Eager()
    monkeypatch.setattr(local, "_load", lambda: server)
    generation = local._attempt(ChatRequest("你好", "zh"), Cancel())
    first = await generation.__anext__()
    # It went on ahead of the reader (one taken, LOOKAHEAD waiting) and stopped there; a free-running model
    # would be at 100 at once.
    assert await asyncio.to_thread(server.reached[LOOKAHEAD + 1].wait, 5)
    assert not await asyncio.to_thread(server.reached[LOOKAHEAD + 2].wait, 0.3)
    rest = [delta async for delta in generation]
    assert [first, *rest] == [f"{index}," for index in range(100)]


async def test_a_waiting_session_ends_the_pacing_so_the_model_is_freed_for_it_plumbing(
        local: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for llama.cpp: the first generation is held at LOOKAHEAD by its busy reader; once a second
    one is waiting for the model, the first runs to its end unpaced (its deltas queue for its reader), and the
    second gets the model without its reader taking anything more."""
    import asyncio
    import threading

    class Eager:
        def __init__(self) -> None:
            self.held = threading.Event()
            self.calls: list[str] = []

        def handle_completions(self, prompt: dict[str, Any], on_chunk: Any) -> None:
            self.calls.append(prompt["prompt"])
            for index in range(100):
                if on_chunk({"choices": [{"text": f"{index},"}]}):
                    return
                if index == LOOKAHEAD:
                    self.held.set()

    server = Eager()
    monkeypatch.setattr(local, "_load", lambda: server)
    first_cancel = Cancel()
    first = local._attempt(ChatRequest("你好", "zh"), first_cancel)
    assert await first.__anext__() == "0,"
    assert await asyncio.to_thread(server.held.wait, 5)  # paced: its reader has not taken more
    second = local._attempt(ChatRequest("Hello", "en"), Cancel())

    # Were the first still paced, the second would wait for ever: a watchdog frees the model after 10 s
    # instead, so that failure is reported rather than hanging.
    watchdog = asyncio.get_running_loop().call_later(10, first_cancel.cancel)
    second_deltas = [delta async for delta in second]
    watchdog.cancel()
    assert not first_cancel.cancelled
    assert second_deltas == [f"{index}," for index in range(100)]
    assert len(server.calls) == 2
    rest = [delta async for delta in first]
    assert rest == [f"{index}," for index in range(1, 100)]


async def test_streams_several_deltas(local: LocalLLM) -> None:
    request = ChatRequest("Describe your favourite city in a few sentences.", "en", examples=EXAMPLES, seed=3,
                          max_tokens=64)
    deltas = await _answer(local, request)
    assert len(deltas) >= 3, deltas  # the first one holds the opening words checked for language


async def test_cancel_stops_within_one_token_and_frees_the_model(local: LocalLLM) -> None:
    cancel = Cancel()
    seen = []
    request = ChatRequest("Tell me a very long story about a dragon and a knight.", "en", examples=EXAMPLES,
                          max_tokens=200)
    async for delta in local.stream(request, cancel):
        seen.append(delta)
        if len(seen) == 3:
            cancel.cancel()
    assert len(seen) == 3  # nothing reaches the caller after the cancel
    assert local.chunks_after_cancel <= 1  # and the model stopped at the next token
    after = await _answer(local, ChatRequest("你好！", "zh", examples=EXAMPLES))
    assert "".join(after).strip()


async def test_speakable_pieces_from_deltas() -> None:
    async def deltas() -> object:
        for piece in ["好的，", "我来", "介绍一下。", "我们的营业时间是", "早上九点到下午五点。", "谢谢"]:
            yield piece

    pieces = [p async for p in speakable(deltas(), first_min_chars=2)]  # type: ignore[arg-type]
    assert pieces == ["好的，", "我来介绍一下。", "我们的营业时间是早上九点到下午五点。", "谢谢"]


async def test_an_abbreviation_does_not_end_a_piece() -> None:
    async def deltas() -> object:
        for piece in ["And Mr.", " Dashwood came", " in. Then", " Dr. Smith left."]:
            yield piece

    pieces = [p async for p in speakable(deltas())]  # type: ignore[arg-type]
    assert pieces == ["And Mr. Dashwood came in.", "Then Dr. Smith left."]


async def test_echo_says_the_text_back() -> None:
    text = "请逐字朗读这段稿子：Hello world."
    assert "".join(await _answer(EchoLLM(), ChatRequest(text, "zh"))) == text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def openai_server(settings: Settings) -> Iterator[str]:
    """A real OpenAI-compatible server: llama.cpp's, from the same bindings, on a loopback port."""
    import xllamacpp

    from talker.models.kit import ModelKit

    params = xllamacpp.CommonParams()
    params.model.path = str(ModelKit(settings.models_dir).path("gemma3-270m"))
    params.n_ctx = 2048
    params.swa_full = True
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.verbosity = -1
    params.port = _free_port()
    server = xllamacpp.Server(params)
    yield f"{server.listening_address}/v1"
    del server


async def test_openai_backend_streams_from_a_real_server(openai_server: str) -> None:
    llm = OpenAICompatibleLLM(openai_server)
    deltas = await _answer(llm, ChatRequest("Say hello.", "en", examples=EXAMPLES, max_tokens=16))
    assert len(deltas) >= 2 and "".join(deltas).strip()


async def test_openai_backend_cancel_closes_the_stream(openai_server: str) -> None:
    llm = OpenAICompatibleLLM(openai_server)
    cancel = Cancel()
    seen = []
    async for delta in llm.stream(ChatRequest("Count from one to fifty.", "en", max_tokens=120), cancel):
        seen.append(delta)
        if len(seen) == 2:
            cancel.cancel()
    assert len(seen) == 2
    assert "".join(await _answer(llm, ChatRequest("Hi!", "en", max_tokens=8))).strip()  # server still serves


async def test_unreachable_server_is_a_clear_error() -> None:
    llm = OpenAICompatibleLLM(f"http://127.0.0.1:{_free_port()}/v1", timeout=5)
    with pytest.raises(InputError, match="cannot reach the LLM server"):
        await _answer(llm, ChatRequest("Hi", "en"))
