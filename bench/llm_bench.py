"""LLM speed: first-token latency (cold and warm, prefix cached) and tokens/s per backend, peak RSS."""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, write_section
from talker.config import Settings
from talker.dialogue.llm import Cancel, ChatRequest, Exchange, OpenAICompatibleLLM, create_local

EXAMPLES = (
    Exchange("你好，你是谁？", "你好！我是数字人小慧，很高兴为你服务。"),
    Exchange("What can you do?", "I can answer your questions in Chinese or English."),
)
QUESTIONS = [("今天天气怎么样？", "zh"), ("What time do you open tomorrow?", "en"), ("请介绍一下你自己。", "zh"),
             ("How can I replace a lost card?", "en"), ("你们周末营业吗？", "zh")]
RUNS = 3


async def measure(llm: object, request: ChatRequest) -> tuple[float, int, float]:
    """(first delta seconds as the caller sees it, deltas, total seconds)."""
    started = time.perf_counter()
    first = 0.0
    count = 0
    async for _ in llm.stream(request, Cancel()):  # type: ignore[attr-defined]
        if not count:
            first = time.perf_counter() - started
        count += 1
    return first, count, time.perf_counter() - started


async def run(llm: object, label: str) -> dict[str, float]:
    cold = (await measure(llm, ChatRequest("你好！", "zh", examples=EXAMPLES, max_tokens=32)))[0]
    firsts, model_firsts, rates, retries = [], [], [], 0
    for _ in range(RUNS):
        for question, language in QUESTIONS:
            first, count, total = await measure(llm, ChatRequest(question, language, examples=EXAMPLES,
                                                                 max_tokens=64))
            firsts.append(first)
            model_firsts.append(getattr(llm, "first_token_seconds", 0.0) or first)
            retries += getattr(llm, "language_retries", 0)
            reported = getattr(llm, "tokens_per_second", 0.0)  # the model's own decode speed, if it says
            if reported:
                rates.append(reported)
            elif count > 1 and total > first:
                rates.append((count - 1) / (total - first))
    result = {"cold": cold, "warm": statistics.median(model_firsts), "shown": statistics.median(firsts),
              "tps": statistics.median(rates), "retries": retries / len(firsts)}
    print(f"{label}: cold {cold * 1000:.0f} ms, warm first token {result['warm'] * 1000:.0f} ms, first text shown "
          f"{result['shown'] * 1000:.0f} ms, {result['tps']:.0f} tokens/s, retries {result['retries']:.2f}/answer",
          flush=True)
    return result


def main() -> None:
    import xllamacpp

    from talker.models.kit import ModelKit

    rows = {}
    for threads in (1, 2):
        settings = Settings()
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"threads": threads})})
        rows[f"local, {threads} thread(s)"] = asyncio.run(run(create_local(settings), f"local {threads}t"))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = xllamacpp.CommonParams()
    params.model.path = str(ModelKit(Settings().models_dir).path("gemma3-270m"))
    params.n_ctx, params.swa_full, params.verbosity, params.port = 4096, True, -1, port
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    server = xllamacpp.Server(params)
    rows["openai → llama.cpp server (loopback), 2 threads"] = asyncio.run(
        run(OpenAICompatibleLLM(f"{server.listening_address}/v1"), "openai"))
    del server

    lines = ["## LLM (`bench/llm_bench.py`)", "",
             f"Gemma 3 270M Q4_K_M, few-shot prompt (persona + 2 examples), {len(QUESTIONS)} questions × {RUNS}. "
             "Cold = first request after loading; warm = median with the persona prefix in llama.cpp's cache "
             "(one slot per reply language). *First text shown* is when the caller gets text: the local backend "
             "holds back the first ~10 characters to check the reply's language (a wrong start is re-sampled). "
             "tokens/s: llama.cpp's reported decode speed for the local model; streamed deltas per second after "
             "the first for the server.", "",
             "| backend | first token, cold | first token, warm (median) | first text shown (median) | tokens/s "
             "| language retries / answer |",
             "|---|---|---|---|---|---|"]
    for label, row in rows.items():
        lines.append(f"| {label} | {row['cold'] * 1000:.0f} ms | {row['warm'] * 1000:.0f} ms | "
                     f"{row['shown'] * 1000:.0f} ms | {row['tps']:.0f} | {row['retries']:.2f} |")
    lines += ["", f"Peak RSS of the benchmark process: {peak_rss_mb():.0f} MB. Target: warm first token ≤ 110 ms."]
    write_section("llm", "\n".join(lines))
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
