"""LLM backends behind one streaming interface: text deltas out, cancellable within one token.

`llm.local` runs a quantised GGUF in-process (llama.cpp through xllamacpp) as few-shot completion;
`llm.openai` talks to any OpenAI-compatible chat endpoint; `llm.echo` says the user's text back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from talker.errors import BackendUnavailableError, InputError
from talker.threads import background_pool

Language = Literal["zh", "en"]


@dataclass(frozen=True)
class Exchange:
    """One earlier turn pair, or an example of how the assistant answers."""

    user: str
    assistant: str


@dataclass(frozen=True)
class ChatRequest:
    """Everything a backend needs to answer one user message; each backend renders it its own way."""

    user: str
    language: Language
    name: str = "小慧"
    role: str = "a friendly digital assistant"
    style: str = "warm, concise"
    examples: tuple[Exchange, ...] = ()
    history: tuple[Exchange, ...] = ()
    summary: str = ""  # older turns, compressed
    facts: tuple[str, ...] = ()  # grounding: persona facts and retrieved passages
    max_tokens: int = 96
    temperature: float = 0.6
    seed: int | None = None  # fixed sampling for reproducible answers (tests, demos)
    retry: int = 0  # a retry after a reply in the wrong language gets a stronger language cue


@dataclass
class Cancel:
    """Set from any thread; a backend stops within one token of it."""

    _event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class LLMBackend(Protocol):
    name: str

    def stream(self, request: ChatRequest, cancel: Cancel) -> AsyncIterator[str]:
        """Text deltas of the answer; stops early when `cancel` is set."""
        ...


_LABELS = {"zh": ("用户：", "{name}："), "en": ("User: ", "{name}: ")}
_SLOTS = 2
_SLOT_OF: dict[Language, int] = {"zh": 0, "en": 1}
_LANGUAGE_TRIES = 3
_CHECK_CHARS = 10  # about a clause: speech cannot start before one anyway
LOOKAHEAD = 24  # deltas the local model may generate ahead of its reader (about a sentence)
_CUE = {"zh": "（用中文回答）", "en": "(Reply in English.)"}
_STRONG_CUE = {"zh": "（请只用中文回答，不要说英文。）", "en": "(Reply only in English, no Chinese.)"}
_INTRO = {
    "zh": "以下是{name}与用户的对话。{name}是{role}，说话{style}。{name}用用户的语言回答，每次只说一两句；"
          "事实问题只根据资料回答，资料里没有的就说不知道。",
    "en": "Below are conversations between {name} and users. {name} is {role}, {style}. {name} answers in the "
          "user's language in one or two sentences, answers factual questions only from the facts given, and "
          "says so when the facts do not say.",
}


def few_shot_prompt(request: ChatRequest) -> str:
    """A completion prompt for a base (not chat-tuned) model: persona, examples, history, facts, question.

    Stable parts come first so llama.cpp's prompt cache reuses them from turn to turn: the persona and
    examples are the same for every turn, the history (its turns in the reply's language) grows within a
    session, the facts and the question change every time.
    """
    # The introduction and the examples in the reply's language come last: a base model continues in the
    # language it saw last. So there is one prefix per reply language; each stays cached in its own slot.
    intros = sorted(("zh", "en"), key=lambda language: language == request.language)
    lines = [_INTRO[language].format(name=request.name, role=request.role, style=request.style)
             for language in intros] + [""]
    examples = sorted(request.examples, key=lambda e: _language_of(e.user) == request.language)
    for example in examples:
        lines += _exchange(example, _language_of(example.user), request.name)
    lines.append("")
    if request.summary:
        lines.append(("此前谈到：" if request.language == "zh" else "Earlier: ") + request.summary)
    # Only earlier turns in the reply's language: a tiny base model answers in the language of its context,
    # so a Chinese history made English questions come back in Chinese (after every language retry).
    for turn in request.history:
        if _language_of(turn.user) == request.language:
            lines += _exchange(turn, request.language, request.name)
    if request.facts:
        label = "资料：" if request.language == "zh" else "Facts: "
        lines.append(label + " ".join(fact.replace("\n", " ") for fact in request.facts))
    user_label, bot_label = _LABELS[request.language]
    lines.append(user_label + request.user.replace("\n", " "))
    # A base model drifts into the language it saw last; a cue in the reply's language, placed after
    # everything cached, keeps it on track without changing the prefix.
    lines.append(_STRONG_CUE[request.language] if request.retry else _CUE[request.language])
    return "\n".join(lines) + "\n" + bot_label.format(name=request.name).rstrip(" ")


def _exchange(exchange: Exchange, language: Language, name: str) -> list[str]:
    user_label, bot_label = _LABELS[language]
    return [user_label + exchange.user.replace("\n", " "), bot_label.format(name=name) + exchange.assistant]


def _has_letters(text: str) -> bool:
    return any(char.isalpha() for char in text)


def _language_of(text: str) -> Language:
    from talker.text.lang import detect_language

    return detect_language(text)


def stop_strings(request: ChatRequest) -> list[str]:
    """Where a completion model's answer ends: the line, or the next speaker."""
    return ["\n", "用户：", "User:", f"{request.name}：", f"{request.name}:"]


class LocalLLM:
    """A GGUF model in this process. One generation at a time (the model's single slot); others wait."""

    name = "local"

    def __init__(self, model_path: Path, threads: int = 2, context: int = 4096) -> None:
        self._model_path = model_path
        self._threads = threads
        self._context = context
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._turn_lock = threading.Lock()
        self._generations = 0  # submitted and not yet finished (guarded by _count_lock)
        self._count_lock = threading.Lock()
        self._warmed = False
        # Generations run one at a time on their own thread: waiting ones queue here instead of each
        # holding a thread of the event loop's shared pool (which also encodes live audio and video).
        self._worker = background_pool(1, "talker-llm")  # llama.cpp's own threads inherit its priority
        self.chunks_after_cancel = 0  # tokens the model produced after the last cancel (tests, metrics)
        self.first_token_seconds = 0.0  # of the last generation attempt, from request to first token (bench)
        self.language_retries = 0  # of the last answer
        self.tokens_per_second = 0.0  # decode speed llama.cpp reported for the last generation

    def _finished(self, _: concurrent.futures.Future[None]) -> None:
        with self._count_lock:
            self._generations -= 1

    def _load(self) -> Any:
        with self._load_lock:
            if self._server is None:
                from talker.threads import LLM_OPENMP_SPIN, loading_openmp

                try:
                    with loading_openmp(LLM_OPENMP_SPIN):
                        import xllamacpp
                except ImportError as error:
                    raise BackendUnavailableError("llm.local needs xllamacpp: pip install 'talker[mind]'") from error
                params = xllamacpp.CommonParams()
                params.model.path = str(self._model_path)
                params.n_ctx = self._context * _SLOTS
                params.n_parallel = _SLOTS  # one per reply language: each keeps its prefix cached
                params.swa_full = True  # Gemma 3's sliding window otherwise defeats the prompt cache
                params.cpuparams.n_threads = self._threads
                params.cpuparams_batch.n_threads = self._threads
                # A build without OpenMP runs llama.cpp's own pool, whose polling workers took the cores other
                # sessions needed: they sleep between ops. xllamacpp's OpenMP build spins LLM_OPENMP_SPIN instead.
                params.cpuparams.poll = params.cpuparams_batch.poll = 0
                params.verbosity = -1
                params.warmup = True
                from talker.threads import built_in_background

                self._server = built_in_background(lambda: xllamacpp.Server(params))
            return self._server

    def warm(self, request: ChatRequest) -> None:
        """Load the model and put the persona prefix in its cache, so the first real turn starts fast. Once per
        process: later turns keep the prefix cached themselves."""
        server = self._load()
        with self._turn_lock:
            if self._warmed:
                return
            self._warmed = True
            for language, slot in _SLOT_OF.items():
                warm = ChatRequest(**{**request.__dict__, "language": language})
                server.handle_completions({"prompt": few_shot_prompt(warm), "n_predict": 1, "cache_prompt": True,
                                           "id_slot": slot}, lambda _chunk: False)

    async def stream(self, request: ChatRequest, cancel: Cancel) -> AsyncIterator[str]:
        """Deltas of the answer. A tiny base model sometimes opens in the wrong language: the first few
        characters are held back and checked, and a wrong start is cancelled and sampled again."""
        for attempt in range(_LANGUAGE_TRIES):
            self.language_retries = attempt
            last = attempt + 1 == _LANGUAGE_TRIES
            seed = request.seed if attempt == 0 else (request.seed or 0) + 1000 * attempt
            inner = Cancel()
            # A retry samples hotter, with a stronger cue: the same peaked distribution would repeat itself.
            temperature = request.temperature if attempt == 0 else max(request.temperature, 0.9)
            generation = self._attempt(replace(request, seed=seed, retry=attempt, temperature=temperature), inner)
            held: str | None = ""
            wrong_language = False
            try:
                async for delta in generation:
                    if cancel.cancelled:
                        return
                    if held is None:
                        yield delta
                        continue
                    held += delta
                    if len(held.strip()) >= _CHECK_CHARS:
                        if not last and _language_of(held) != request.language:
                            wrong_language = True
                            break
                        yield held
                        held = None
                if held and not wrong_language:  # a short answer that never reached the check
                    if not last and _has_letters(held) and _language_of(held) != request.language:
                        wrong_language = True  # "Hello!" to a Chinese question
                    else:
                        yield held
            finally:
                inner.cancel()
                await generation.aclose()
            if not wrong_language:
                return

    async def _attempt(self, request: ChatRequest, cancel: Cancel) -> AsyncGenerator[str, None]:
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        prompt = {
            "prompt": few_shot_prompt(request),
            "stream": True,
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 0.9,
            "repeat_penalty": 1.1,
            "stop": stop_strings(request),
            "cache_prompt": True,
            "id_slot": _SLOT_OF[request.language],  # pinned, so each language's prefix stays in its cache
        }
        if request.seed is not None:
            prompt["seed"] = request.seed

        self.chunks_after_cancel = 0
        self.first_token_seconds = 0.0
        requested = time.perf_counter()
        credits = threading.Semaphore(LOOKAHEAD)

        def on_chunk(chunk: Any) -> bool:
            if not self.first_token_seconds:
                self.first_token_seconds = time.perf_counter() - requested
            if cancel.cancelled:
                self.chunks_after_cancel += 1
            data = json.loads(chunk) if isinstance(chunk, (str, bytes)) else chunk
            if isinstance(data, dict) and "timings" in data:
                self.tokens_per_second = float(data["timings"].get("predicted_per_second", 0.0))
            if isinstance(data, dict) and "error" in data:
                loop.call_soon_threadsafe(deltas.put_nowait, RuntimeError(str(data["error"])))
                return True
            choices = data.get("choices") if isinstance(data, dict) else None
            text = choices[0].get("text", "") if choices else ""
            if text and not cancel.cancelled:
                # Run at most LOOKAHEAD deltas ahead of the reader: while the avatar's first piece is being
                # spoken into audio, the model waits here instead of taking the CPU from the speech synthesis.
                # Not while another session waits for the model, though: it would wait for this reader too.
                while not credits.acquire(timeout=0.05):
                    if cancel.cancelled:
                        return True
                    if self._generations > 1:
                        break
                loop.call_soon_threadsafe(deltas.put_nowait, text)
            return cancel.cancelled  # True makes llama.cpp stop before the next token

        def generate() -> None:
            try:
                server = self._load()
                with self._turn_lock:
                    if not cancel.cancelled:
                        server.handle_completions(prompt, on_chunk)
            except BaseException as error:  # handed to the consumer
                loop.call_soon_threadsafe(deltas.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(deltas.put_nowait, None)

        with self._count_lock:
            self._generations += 1
        submitted = self._worker.submit(generate)
        submitted.add_done_callback(self._finished)  # also when cancelled before it ran
        worker = asyncio.wrap_future(submitted, loop=loop)
        try:
            while (item := await deltas.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                credits.release()
                yield item
        finally:
            cancel.cancel()
            await asyncio.shield(worker)  # the model is free again before the next turn starts


class EchoLLM:
    """Says the user's text back verbatim, word by word: the "read my script" mode."""

    name = "echo"

    async def stream(self, request: ChatRequest, cancel: Cancel) -> AsyncIterator[str]:
        import re

        for piece in re.findall(r"\S+\s*|\s+", request.user):
            if cancel.cancelled:
                return
            yield piece
            await asyncio.sleep(0)


class OpenAICompatibleLLM:
    """Any OpenAI-compatible /chat/completions endpoint (llama.cpp server, Ollama, vLLM, a cloud)."""

    name = "openai"

    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout: float = 30.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._model = model
        self._api_key = api_key
        self._timeout = timeout

    def messages(self, request: ChatRequest) -> list[dict[str, str]]:
        system = _INTRO[request.language].format(name=request.name, role=request.role, style=request.style)
        if request.summary:
            system += ("\n此前谈到：" if request.language == "zh" else "\nEarlier: ") + request.summary
        if request.facts:
            system += ("\n资料：" if request.language == "zh" else "\nFacts: ") + " ".join(request.facts)
        out = [{"role": "system", "content": system}]
        for turn in (*request.examples, *request.history):
            out += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.assistant}]
        return [*out, {"role": "user", "content": request.user}]

    async def stream(self, request: ChatRequest, cancel: Cancel) -> AsyncIterator[str]:
        import httpx

        body: dict[str, Any] = {"messages": self.messages(request), "stream": True,
                                "max_tokens": request.max_tokens, "temperature": request.temperature}
        if self._model:
            body["model"] = self._model
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        url = f"{self._base_url}/chat/completions"
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client, client.stream(
                "POST", url, json=body, headers=headers
            ) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:200]
                    raise InputError(f"the LLM server at {self._base_url} answered {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    if cancel.cancelled:
                        return  # leaving the block closes the stream, which stops the server generating
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    choices = json.loads(payload).get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content") or ""
                    if text:
                        yield text
        except httpx.ConnectError as error:
            raise InputError(f"cannot reach the LLM server at {self._base_url} ({error}); is it running?") from error
        except httpx.TimeoutException as error:
            raise InputError(f"the LLM server at {self._base_url} did not answer in {self._timeout:.0f} s") from error


def create_local(settings: Any) -> LocalLLM:
    from talker.models.kit import ModelKit

    return LocalLLM(ModelKit(settings.models_dir).path("gemma3-270m"), settings.llm.threads, settings.llm.context)


def create_openai(settings: Any) -> OpenAICompatibleLLM:
    llm = settings.llm
    if not llm.base_url:
        raise InputError("llm.openai needs a base URL: --base-url http://host:port/v1 (or TALKER_LLM__BASE_URL)")
    return OpenAICompatibleLLM(llm.base_url, llm.model, llm.api_key, llm.timeout)


def create_echo(settings: Any) -> EchoLLM:
    return EchoLLM()
