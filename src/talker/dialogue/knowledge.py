"""The deployer's knowledge: documents cut into cited chunks, BM25 search over them, and an exact FAQ layer.

One SQLite file (WAL) holds documents, chunks, an inverted index (term, chunk, tf) and the FAQ. Every
write is one transaction, so a failed ingest leaves the base exactly as it was.

Retrieval tokens: Chinese runs give jieba words (search mode, so compounds also yield their parts),
character bigrams and single characters (these keep a fact findable when jieba segments the question
and the document differently, or the question uses a near-synonym: 保险箱 / 保管箱); English gives
lowercased, lightly stemmed words without stop words; digits give whole numbers (separators dropped)
and their groups, so a Chinese question finds an English chunk through the same phone number or name;
a small bilingual lexicon of service-desk concepts (weekdays, opening times, address, phone, fees,
cash, lost cards…) adds `@` tokens that join 星期六 and Saturday, 在哪 and address.

FAQ answers are returned only when the match is certain (see `faq_answer`): the small local LLM
invents facts, and a wrong canned answer is worse than none.
"""

from __future__ import annotations

import builtins
import csv
import hashlib
import io
import logging
import math
import re
import sqlite3
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, Field

from talker.dialogue.ingest import Document, DocumentKind, decode_text, read_document
from talker.dialogue.sqlite import open_database, write_transaction
from talker.errors import InputError
from talker.text.lang import HAN, detect_language

SCHEMA_VERSION = 1
# Bump when tokenisation changes: bases written by another version are re-indexed when opened.
TOKENIZER_VERSION = "3"

BM25_K1 = 1.5
BM25_B = 0.75
NUMBER_BOOST = 1.5  # numbers (phone numbers, amounts, times) name a fact more precisely than words

# A long query (a rambling transcript) would read most of the index: its rarest terms, which carry
# nearly all of the score, are used, up to this many terms and postings.
MAX_QUERY_TERMS = 64
MAX_QUERY_POSTINGS = 20000

# FAQ thresholds (see `KnowledgeBase.faq_answer`).
FAQ_MIN_SIMILARITY = 0.75
FAQ_MARGIN = 0.10

MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 4000
MAX_TITLE_CHARS = 300


class KnowledgeSettings(BaseModel):
    """Knowledge-base limits and chunk sizes."""

    max_document_mb: float = Field(20.0, gt=0, le=1024, description="largest document file accepted, MB")
    chunk_chars: int = Field(500, ge=100, le=4000, description="longest chunk, characters")
    min_chunk_chars: int = Field(300, ge=20, le=4000, description="a chunk ends at a paragraph once this long")
    overlap_chars: int = Field(100, ge=0, le=1000, description="most text repeated when a cut falls mid-paragraph")


# --- tokenisation ---------------------------------------------------------------------------------

_EN_STOP_WORDS = """
    a an the is are am was were be been being do does did doing have has had having i me my mine we us our
    ours you your yours he him his she her it its they them their this that these those there here of to in
    on at by for with from as into about than then so if or and but also can could would should will shall
    may might must what when where which who whom whose why how please tell know want need like let just
    s t don isn aren doesn didn won hi hello thank thanks"""
_EN_STOP = frozenset(_EN_STOP_WORDS.split())
_ZH_STOP_WORDS = """
    的 了 吗 呢 吧 啊 呀 嘛 哦 么 是 在 有 和 与 及 或 或者 我 我们 你 你们 您 他 她 它 他们 这 那 这个 那个 这些
    那些 哪 哪个 哪些 什么 怎么 怎样 如何 为什么 请问 请 一下 可以 能 能否 会 要 想 需要 都 也 就 还 又 把 被 对 给
    从 到 为 以 于 之 其 如果 是否 多少 几 个 吗 呐 哈 嗯 啦 着 过 得 地"""
_ZH_STOP = frozenset(_ZH_STOP_WORDS.split())
_PARTICLES = frozenset("的了吗呢吧啊呀嘛哦")
_STOP_CHARS = frozenset("的了吗呢吧啊呀嘛哦么是在有我你您他她它这那哪个们就都也还和与及或请问什怎")
_TOKEN = re.compile(
    f"(?P<han>[{HAN}]+)|(?P<num>\\d+(?:[.,:/\\-]\\d+)*)(?P<unit>[万千]?)|(?P<word>[a-z]+(?:['’-][a-z]+)*)"
)
_HAN_GAP = re.compile(f"(?<=[{HAN}])\\s+(?=[{HAN}])")


class _Jieba:
    """jieba's dictionary loads once per process, on first use, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    def cut(self, text: str) -> list[str]:
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    jieba.initialize()
                    self._loaded = True
        import jieba

        return [word for word in jieba.lcut(text, HMM=True) if word.strip()]

    def cut_for_search(self, text: str) -> list[str]:
        """Words plus their dictionary sub-words (坐地铁 → 坐地铁, 地铁), so compounds meet their parts."""
        self.cut("")
        import jieba

        return [word for word in jieba.lcut_for_search(text, HMM=True) if word.strip()]


_JIEBA = _Jieba()


def stem(word: str) -> str:
    """Light English stemming: plural -s/-es/-ies, -ing, -ed, and a final silent e, so forms meet."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and re.search("[aeiouy]", word[: -len(suffix)]):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # stopped → stop, planned → plan
            break
    if len(word) > 4 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    return word


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return _HAN_GAP.sub("", text)


def _number_tokens(raw: str, unit: str) -> list[str]:
    parts = re.split(r"[.,:/\-]", raw)
    joined = re.sub(r"[,\-]", "", raw)  # 20,000 → 20000; 0755-2688-1234 → 075526881234
    tokens = [joined]
    if len(parts) > 1:
        tokens.extend(part for part in parts if part)
    if unit and re.fullmatch(r"\d+(?:\.\d+)?", joined):
        value = float(joined) * (10000 if unit == "万" else 1000)
        tokens.append(str(int(value)) if value.is_integer() else str(value))
    return list(dict.fromkeys(tokens))


# A small lexicon of what customers ask a service desk about, in both languages. A text mentioning one
# gets the concept as an extra token, so "星期六" meets "Saturday" and "在哪" meets "地址".
_CONCEPTS: list[tuple[str, re.Pattern[str]]] = [
    (f"@day{number}", re.compile(f"(?:周|星期|礼拜){zh}|\\b{en}s?\\b"))
    for number, zh, en in (
        (1, "一", "monday"), (2, "二", "tuesday"), (3, "三", "wednesday"), (4, "四", "thursday"),
        (5, "五", "friday"), (6, "六", "saturday"), (7, "[日天]", "sunday"),
    )
] + [
    ("@workdays", re.compile(r"工作日|(?:周|星期)一(?:至|到|—|-|–)(?:周|星期)?五|\bmonday (?:to|through|-) friday\b"
                             r"|\bmon(?:day)? ?[-–] ?fri(?:day)?\b|\bweekdays?\b|\b(?:working|business) days?\b")),
    ("@weekend", re.compile(r"周末|双休日|\bweekends?\b")),
    ("@clock", re.compile(r"\b\d{1,2}:\d{2}\b|\d{1,2}\s*点|几点|什么时候|何时|营业时间|开放时间|开门|关门"
                          r"|\bwhat time\b|\bwhen\b|\b(?:opening|business|office) hours\b|\b\d{1,2} ?[ap]\.?m\b")),
    ("@where", re.compile(r"地址|位置|在哪|哪里|怎么去|怎么走|路线|地铁|公交|\baddress\b|\blocation\b|\bwhere\b"
                          r"|\bdirections\b|\bmetro\b|\bsubway\b")),
    ("@phone", re.compile(r"电话|热线|致电|拨打|联系方式|\bphone\b|\bcall\b|\bhotline\b|\btelephone\b"
                          r"|\b\d{3,4}-\d{3,4}-\d{4}\b")),
    ("@fee", re.compile(r"费用|收费|手续费|多少钱|价格|租金|年费|月费|\bfees?\b|\bcosts?\b|\bcharges?\b|\bprices?\b")),
    ("@cash", re.compile(r"取现|取款|取钱|提现|现金|\bwithdraw(?:al|als|s)?\b|\bcash\b")),
    ("@daily", re.compile(r"每天|每日|一天|\bdaily\b|\bper day\b|\ba day\b|\beach day\b")),
    ("@lost", re.compile(r"丢失|丢了|遗失|挂失|被盗|被偷|\blost\b|\bstolen\b|\bmissing\b")),
    ("@manager", re.compile(r"行长|经理|负责人|主任|\bmanagers?\b|\bdirectors?\b")),
    ("@parking", re.compile(r"停车|车位|\bparking\b|\bcar park\b")),
    ("@sms", re.compile(r"短信|\bsms\b|\btext messages?\b|\btexts\b")),
    ("@transfer", re.compile(r"转账|汇款|\btransfers?\b|\bremittances?\b")),
    ("@replace", re.compile(r"补办|补卡|换卡|重新办|\breplace(?:ment|s|d)?\b|\bnew card\b")),
]


def tokenize(text: str) -> list[str]:
    """Search tokens: jieba words and sub-words, `_`-marked Han bigrams, stemmed English words, numbers,
    and `@` concepts from a small bilingual service-desk lexicon."""
    tokens: list[str] = []
    text = _normalise(text)
    for name, pattern in _CONCEPTS:
        tokens.extend(name for _ in pattern.finditer(text))
    for match in _TOKEN.finditer(text):
        if match.group("han"):
            run = match.group("han")
            tokens.extend(word for word in _JIEBA.cut_for_search(run) if word not in _ZH_STOP)
            tokens.extend(
                "_" + run[i:i + 2] for i in range(len(run) - 1) if not _PARTICLES.intersection(run[i:i + 2])
            )
            tokens.extend("^" + char for char in run if char not in _STOP_CHARS)
        elif match.group("num"):
            tokens.extend(_number_tokens(match.group("num"), match.group("unit")))
            if match.group("unit"):
                tokens.append("^" + match.group("unit"))
        else:
            tokens.extend(_english_words(match.group("word")))
    return tokens


def _english_words(word: str) -> list[str]:
    """Stems of a Latin word; a hyphenated one also counts joined (wi-fi → wifi, e-mail → email)."""
    parts = [re.split(r"['’]", part)[0] for part in word.split("-")]
    words = [part for part in parts if part and part not in _EN_STOP]
    if len(parts) > 1:
        words.append("".join(parts))
    return [stem(w) for w in words]


def _rarest(df: dict[str, int]) -> list[str]:
    chosen: list[str] = []
    postings = 0
    for term, count in sorted(df.items(), key=lambda item: (item[1], item[0])):
        if chosen and (len(chosen) >= MAX_QUERY_TERMS or postings + count > MAX_QUERY_POSTINGS):
            break
        chosen.append(term)
        postings += count
    return chosen


# --- chunking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to quote, with the heading it sits under."""

    index: int
    heading: str
    text: str


_HEADING_LINE = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
# Unit ends: a blank line (2), a line break (1), or a sentence end in either language (0).
_UNIT_END = re.compile(
    r"\n[ \t]*\n\s*|\n|(?:[。！？!?；;…]+|(?<=[\w)\]])\.(?=\s))[”’\"'）)》」』】]*[ \t]*"
)
_CLAUSE_END = re.compile(r"[，,、：:][ \t]*")


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    strength: int


def chunk_text(text: str, max_chars: int = 500, min_chars: int = 300, overlap_chars: int = 100) -> list[Chunk]:
    """Cut light-format text into chunks of about `min_chars`–`max_chars` at paragraph or sentence ends.

    A chunk never spans two headings, so each keeps the nearest heading above it for citation. A cut
    inside a paragraph repeats the last sentences (≤ `overlap_chars`) at the start of the next chunk.
    """
    sections: list[tuple[str, str]] = []
    heading = ""
    body: list[str] = []
    for line in text.split("\n"):
        found = _HEADING_LINE.match(line)
        if found:
            sections.append((heading, "\n".join(body)))
            heading, body = found.group(2).strip("# "), []
        else:
            body.append(line)
    sections.append((heading, "\n".join(body)))
    chunks: list[Chunk] = []
    for heading, section in sections:
        for start, end in _pack(section, max_chars, min_chars, overlap_chars):
            piece = section[start:end].strip()
            if piece:
                chunks.append(Chunk(len(chunks), heading, piece))
    return chunks


def _units(text: str, max_chars: int) -> list[_Unit]:
    units: list[_Unit] = []
    start = 0
    for match in _UNIT_END.finditer(text):
        newline = "\n" in match.group()
        end = match.start() if newline else match.end()
        strength = (2 if match.group().count("\n") > 1 else 1) if newline else 0
        if text[start:end].strip():
            units.extend(_split_long(text, start, end, strength, max_chars))
        elif units and strength > units[-1].strength:
            units[-1] = _Unit(units[-1].start, units[-1].end, strength)
        start = match.end()
    if text[start:].strip():
        units.extend(_split_long(text, start, len(text), 2, max_chars))
    return units


def _split_long(text: str, start: int, end: int, strength: int, max_chars: int) -> list[_Unit]:
    """A unit longer than `max_chars` is cut at clause marks, then at spaces, then anywhere."""
    if end - start <= max_chars:
        return [_Unit(start, end, strength)]
    out: list[_Unit] = []
    while end - start > max_chars:
        window = text[start:start + max_chars]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window) if m.end() > max_chars // 3]
        if not cuts:
            cuts = [m.end() for m in re.finditer(r"\s+", window) if m.end() > max_chars // 3]
        cut = start + (cuts[-1] if cuts else max_chars)
        out.append(_Unit(start, cut, 0))
        start = cut
    out.append(_Unit(start, end, strength))
    return out


def _pack(text: str, max_chars: int, min_chars: int, overlap_chars: int) -> list[tuple[int, int]]:
    units = _units(text, max_chars)
    spans: list[tuple[int, int]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and unit.end - current[0].start > max_chars:
            spans.append((current[0].start, current[-1].end))
            current = _overlap(current, overlap_chars)
            while current and unit.end - current[0].start > max_chars:
                current.pop(0)
        current.append(unit)
        if unit.strength == 2 and unit.end - current[0].start >= min_chars:
            spans.append((current[0].start, unit.end))
            current = []
    if current:
        spans.append((current[0].start, current[-1].end))
    # A short tail reads better joined to the chunk before it, when that stays near the limit.
    if len(spans) >= 2 and spans[-1][1] - spans[-1][0] < min_chars // 3 and spans[-1][1] - spans[-2][0] <= max_chars:
        spans[-2:] = [(spans[-2][0], spans[-1][1])]
    return spans


def _overlap(current: list[_Unit], overlap_chars: int) -> list[_Unit]:
    if not current or current[-1].strength == 2:
        return []
    kept: list[_Unit] = []
    for unit in reversed(current[1:]):
        if current[-1].end - unit.start > overlap_chars or unit.strength == 2:
            break
        kept.insert(0, unit)
    return kept


# --- FAQ matching ---------------------------------------------------------------------------------

_ZH_SYNONYMS = [
    (re.compile(r"(?:星期|礼拜|周)[日天]"), "周日"),
    (re.compile(r"(?:星期|礼拜)([一二三四五六])"), r"周\1"),
    (re.compile(r"什么时候|啥时候|何时|几点钟|什么时间|几时"), "几点"),
    (re.compile(r"怎么样|怎样|如何|咋样|咋"), "怎么"),
    (re.compile(r"能不能|可不可以|可以不可以|能否|可否|是否可以|是否能"), "可以"),
    (re.compile(r"在?(?:哪里|哪儿|哪边|什么地方|啥地方|什么位置|哪(?![个些种位天年]))"), "哪里"),
    (re.compile(r"多少钱|什么价格|价格多少|费用多少|收费多少|收多少钱"), "费用"),
    (re.compile(r"手机号码|手机号|电话号码|联系电话|电话号"), "电话"),
]
_ZH_FILLERS = re.compile(
    r"^(?:请问|你好|您好|麻烦问一下|麻烦问下|我想问一下|想问一下|想问下|我想问|我想知道|请告诉我|能告诉我|可以告诉我)+"
    r"|你们|您们|贵行|贵院|贵校|贵司|一下|[吗呢呀啊吧嘛哦](?=\W|$)"
)
_EN_SYNONYMS = [
    (re.compile(r"\bwhat time\b"), "when"),
    (re.compile(r"\bhow much (?:does it cost|is it|is|are|do)\b"), "cost"),
    (re.compile(r"\b(?:telephone|phone number|contact number|number to call)\b"), "phone"),
]
_EN_WORD_SYNONYMS = {"fee": "cost", "charg": "cost", "pric": "cost"}
_FAQ_EXTRA_STOP = frozenset({"问", "想", "知道", "告诉"})
# Words a question can have or lack without changing what it asks (客服电话是多少 = 客服电话多少).
_FAQ_DROP = frozenset(
    ["的", "是", "了", "吗", "呢", "吧", "啊", "呀", "嘛", "哦", "呐", "要", "需要", "得", "能", "可以", "请", "一下"]
)
_HAN_RUN = re.compile(f"[{HAN}]+")

_WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_EN_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SLOT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:星期|礼拜|周)([一二三四五六日天])"), "wd"),
    (re.compile(r"\b(" + "|".join(_EN_DAYS) + r")s?\b"), "wd"),
    (re.compile(r"周末|\bweekends?\b"), "wd:end"),
    (re.compile(r"工作日|\bweekdays?\b|\bworkdays?\b|\bworking days?\b"), "wd:work"),
    (re.compile(r"春节|过年|\b(?:chinese|lunar) new year\b|\bspring festival\b"), "hol:spring"),
    (re.compile(r"国庆|\bnational day\b"), "hol:national"),
    (re.compile(r"中秋|\bmid-?autumn\b"), "hol:midautumn"),
    (re.compile(r"元旦|\bnew year'?s day\b"), "hol:newyear"),
    (re.compile(r"圣诞|\bchristmas\b"), "hol:christmas"),
    (re.compile(r"清明|\btomb[- ]sweeping\b|\bqingming\b"), "hol:qingming"),
    (re.compile(r"端午|\bdragon boat\b"), "hol:dragonboat"),
    (re.compile(r"劳动节|五一|\blabou?r day\b|\bmay day\b"), "hol:labour"),
    (re.compile(r"节假日|法定假日|假期|假日|\b(?:public |bank )?holidays?\b"), "hol"),
    (re.compile(r"上午|早上|早晨|清晨|\bmornings?\b"), "dp:am"),
    (re.compile(r"中午|\bnoon\b|\blunch ?time\b"), "dp:noon"),
    (re.compile(r"下午|\bafternoons?\b"), "dp:pm"),
    (re.compile(r"晚上|夜里|夜间|傍晚|\bevenings?\b|\bnights?\b|\btonight\b"), "dp:eve"),
    (re.compile(r"今天|今日|\btoday\b|\btonight\b"), "day:0"),
    (re.compile(r"明天|明日|\btomorrow\b"), "day:1"),
    (re.compile(r"后天"), "day:2"),
    (re.compile(r"昨天|\byesterday\b"), "day:-1"),
]
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_NEGATION_EN = re.compile(r"\b(?:not|no|never|cannot|without)\b|n't\b")
_ZH_AXA = re.compile(r"([\u4e00-\u9fff])[不没]\1")


def _zh_numeral_value(numeral: str) -> int:
    if all(char in _ZH_DIGIT for char in numeral):  # digit by digit: 二零二五
        return int("".join(str(_ZH_DIGIT[char]) for char in numeral))
    total, section, digit = 0, 0, 0
    for char in numeral:
        if char in _ZH_DIGIT:
            digit = _ZH_DIGIT[char]
        elif char == "万":
            total += (section + digit or 1) * 10000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _ZH_UNITS[char]
            digit = 0
    return total + section + digit


def _slots(text: str) -> frozenset[str]:
    """What a question is specifically about: days, holidays, times of day, numbers, negation.

    Two questions that differ in any of these are different questions however alike they read
    ("周六几点开门" is not "周日几点开门").
    """
    text = unicodedata.normalize("NFKC", text).lower()
    found: set[str] = set()
    for pattern, name in _SLOT_PATTERNS:
        for match in pattern.finditer(text):
            if name == "wd":
                day = match.group(1)
                found.add(f"wd:{_WEEKDAYS[day] if day in _WEEKDAYS else _EN_DAYS.index(day) + 1}")
            else:
                found.add(name)
        text = pattern.sub(" ", text)
    if any(name.startswith("hol:") for name in found):
        found.discard("hol")  # "国庆假期" is about National Day, not holidays in general
    for number in re.findall(r"\d+(?:[.:]\d+)*", re.sub(r"(?<=\d)[,\-](?=\d)", "", text)):
        found.add("n:" + number)
    for numeral in _ZH_NUMERAL.findall(text):
        if numeral not in ("一", "万", "千", "百", "千万"):
            found.add(f"n:{_zh_numeral_value(numeral)}")
    if _NEGATION_EN.search(text) or re.search("[不没未]", _ZH_AXA.sub(" ", text)):
        found.add("neg")
    return frozenset(found)


def _faq_canonical(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _HAN_GAP.sub("", text)
    for pattern, replacement in _ZH_SYNONYMS:
        text = pattern.sub(replacement, text)
    text = _ZH_FILLERS.sub("", text.strip())
    text = _HAN_RUN.sub(lambda run: "".join(w for w in _JIEBA.cut(run.group()) if w not in _FAQ_DROP), text)
    for pattern, replacement in _EN_SYNONYMS:
        text = pattern.sub(replacement, text)
    text = re.sub(r"[^\w\s]|_", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _faq_form(text: str) -> str:
    """What two questions must share exactly to be the same question."""
    return _faq_canonical(text).replace(" ", "")


@dataclass(frozen=True)
class _FaqFeatures:
    grams: frozenset[str]  # Han bigrams, English stems, numbers: the similarity measure
    words: frozenset[str]  # content words: the query must have all of the stored question's
    slots: frozenset[str]


def _faq_features(text: str) -> _FaqFeatures:
    canonical = _faq_canonical(text)
    grams: set[str] = set()
    words: set[str] = set()
    for match in _TOKEN.finditer(canonical):
        if match.group("han"):
            run = match.group("han")
            grams.update([run[i:i + 2] for i in range(len(run) - 1)] or [run])
            words.update(w for w in _JIEBA.cut(run) if w not in _ZH_STOP and w not in _FAQ_EXTRA_STOP)
        elif match.group("num"):
            grams.update(_number_tokens(match.group("num"), match.group("unit")))
        else:
            found = {_EN_WORD_SYNONYMS.get(w, w) for w in _english_words(match.group("word"))}
            grams.update(found)
            words.update(found)
    return _FaqFeatures(frozenset(grams), frozenset(words), _slots(text))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def _covers(query: frozenset[str], stored: frozenset[str]) -> bool:
    """Every content word of the stored question is in the query (or one contains the other: 丢 / 丢失).

    A query may add words, but one that leaves out "lost" or "个人" asks something more general, and
    one that swaps "open" for "close" asks something else.
    """
    return all(any(word in other or other in word for other in query) for word in stored)


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document."""

    id: int
    title: str
    source: str
    kind: str
    chunks: int
    chars: int
    sha256: str


@dataclass(frozen=True)
class Hit:
    """A chunk found by `search`, with what a citation needs."""

    doc_id: int
    title: str
    source: str
    chunk_index: int
    heading: str
    text: str
    score: float


@dataclass(frozen=True)
class FaqEntry:
    """One stored answer and the questions (phrasings) it answers."""

    id: int
    questions: tuple[str, ...]
    answer: str
    source: str


@dataclass(frozen=True)
class FaqMatch:
    """A stored answer chosen for a question: `exact` when the normalised questions are equal."""

    faq_id: int
    question: str
    answer: str
    source: str
    score: float
    exact: bool


@dataclass(frozen=True)
class KnowledgeStats:
    """How much the base holds."""

    documents: int
    chunks: int
    faqs: int
    questions: int


@dataclass(frozen=True)
class _FaqQuestion:
    faq_id: int
    question: str
    form: str
    features: _FaqFeatures
    answer: str
    source: str


_FUSION_DEPTH = 20  # how deep each ranking goes into the fusion
_RRF_K = 60  # reciprocal rank fusion's damping constant
_MEANING_FLOOR = 0.25  # below this cosine an embedding match is noise


class Embedder(Protocol):
    """Sentence embeddings: unit vectors, one row per text."""

    def embed(self, texts: builtins.list[str], batch_size: int = 32) -> np.ndarray: ...


def _fuse(*rankings: builtins.list[tuple[int, float]]) -> builtins.list[tuple[int, float]]:
    """Reciprocal rank fusion: each ranking adds 1 / (k + rank) for every chunk it lists."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking):
            fused[chunk_id] += 1.0 / (_RRF_K + rank + 1)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE, chars INTEGER NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL, length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS postings (
    term TEXT NOT NULL, chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE, tf INTEGER NOT NULL,
    PRIMARY KEY (term, chunk_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_chunk ON postings(chunk_id);
CREATE TABLE IF NOT EXISTS chunk_vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS faq (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer TEXT NOT NULL, source TEXT NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faq_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, faq_id INTEGER NOT NULL REFERENCES faq(id) ON DELETE CASCADE,
    question TEXT NOT NULL, form TEXT NOT NULL UNIQUE);
CREATE INDEX IF NOT EXISTS faq_questions_faq ON faq_questions(faq_id);
"""


# --- the base -------------------------------------------------------------------------------------


class KnowledgeBase:
    """Documents, their chunks and index, and the FAQ, in one SQLite file. Safe to share between threads."""

    def __init__(self, path: Path, settings: KnowledgeSettings | None = None, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        self.settings = settings or KnowledgeSettings()
        self._lock = threading.RLock()
        self._faq_cache: tuple[tuple[int, int], builtins.list[_FaqQuestion]] | None = None
        self._writes = 0
        self.embedder = embedder
        self._vectors: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None  # (version, ids, matrix)
        self._conn: sqlite3.Connection | None = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, "knowledge base")
        try:
            conn.executescript(_SCHEMA)
            stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if int(stored.get("schema", SCHEMA_VERSION)) > SCHEMA_VERSION:
                raise InputError(
                    f"knowledge base {self.path} was written by a newer talker (schema {stored['schema']}); "
                    "upgrade talker to use it"
                )
            if stored.get("tokenizer") != TOKENIZER_VERSION:
                self._reindex(conn)
        except sqlite3.DatabaseError as error:
            conn.close()
            raise InputError(
                f"{self.path} is not a usable knowledge base ({error}); give another file name or restore it"
            ) from error
        except BaseException:
            conn.close()
            raise
        return conn

    def _reindex(self, conn: sqlite3.Connection) -> None:
        """Rebuild the inverted index from the stored chunk texts (after a tokenizer change)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute("SELECT id, heading, text FROM chunks").fetchall()
            conn.execute("DELETE FROM postings")
            for chunk_id, heading, text in rows:
                counts = Counter(tokenize(heading + "\n" + text))
                conn.executemany(
                    "INSERT INTO postings (term, chunk_id, tf) VALUES (?, ?, ?)",
                    [(term, chunk_id, tf) for term, tf in counts.items()],
                )
                conn.execute("UPDATE chunks SET length = ? WHERE id = ?", (sum(counts.values()), chunk_id))
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("schema", str(SCHEMA_VERSION)), ("tokenizer", TOKENIZER_VERSION)],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_document_mb * 1048576)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise InputError(f"knowledge base {self.path} is closed; open it again")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with write_transaction(self._db, self._lock, "knowledge base", self.path) as conn:
                    yield conn
            finally:
                self._writes += 1  # cached FAQ questions and vectors reload after any write attempt

    def _version(self) -> tuple[int, int]:
        """Changes whenever the data may have: data_version on another connection's commit, _writes on ours."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._writes

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # documents ---------------------------------------------------------------------------------

    def add(self, path: Path, replace: bool = False) -> DocumentInfo:
        """Read, chunk and index a document file. The same content again is a no-op returning its id.

        With `replace`, documents from a file of the same name are removed in the same transaction
        (an updated fee sheet replaces the old one instead of contradicting it).
        """
        document = read_document(Path(path), max_bytes=self._max_bytes)
        return self._store(document, replace)

    def add_text(self, title: str, text: str, source: str = "", replace: bool = False) -> DocumentInfo:
        """Index text given directly (Markdown-style `#` headings give chunks their heading context)."""
        title = " ".join(title.split())
        if not title:
            raise InputError("a document needs a title; give one")
        if len(title) > MAX_TITLE_CHARS:
            raise InputError(f"the title is {len(title)} characters; keep it under {MAX_TITLE_CHARS}")
        if not text.strip():
            raise InputError(f"document {title!r} has no text; give some")
        if len(text.encode("utf-8")) > self._max_bytes:
            raise InputError(f"document {title!r} is over the {self.settings.max_document_mb:g} MB limit; split it")
        kind: DocumentKind = "md" if re.search(r"(?m)^#{1,6}\s", text) else "txt"
        return self._store(Document(title=title, text=text.strip(), source=source, kind=kind), replace)

    def _store(self, document: Document, replace: bool) -> DocumentInfo:
        digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        existing = self._find(digest)
        if existing is not None:
            return existing
        settings = self.settings
        chunks = chunk_text(
            document.text, settings.chunk_chars, min(settings.min_chunk_chars, settings.chunk_chars),
            settings.overlap_chars,
        )
        if not chunks:
            raise InputError(f"{document.source or document.title} has no text to index; give a document with text")
        # Tokenising (jieba) is the slow part: done before the transaction, outside the lock.
        counted = [Counter(tokenize(chunk.heading + "\n" + chunk.text)) for chunk in chunks]
        with self._transaction() as conn:
            row = conn.execute("SELECT id FROM documents WHERE sha256 = ?", (digest,)).fetchone()
            if row is not None:  # another thread or process stored it meanwhile
                doc_id = int(row[0])
            else:
                if replace and document.source:
                    for (old_id,) in conn.execute(
                        "SELECT id FROM documents WHERE source = ?", (document.source,)
                    ).fetchall():
                        self._delete(conn, int(old_id))
                doc_id = self._insert(conn, document, digest, chunks, counted)
        info = self._info(doc_id)
        assert info is not None
        return info

    def _insert(
        self, conn: sqlite3.Connection, document: Document, digest: str, chunks: Sequence[Chunk],
        counted: Sequence[Counter[str]],
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO documents (title, source, kind, sha256, chars, added) VALUES (?, ?, ?, ?, ?, ?)",
            (document.title, document.source, document.kind, digest, len(document.text), time.time()),
        )
        doc_id = int(cursor.lastrowid or 0)
        for chunk, counts in zip(chunks, counted, strict=True):
            cursor = conn.execute(
                "INSERT INTO chunks (doc_id, idx, heading, text, length) VALUES (?, ?, ?, ?, ?)",
                (doc_id, chunk.index, chunk.heading, chunk.text, sum(counts.values())),
            )
            chunk_id = int(cursor.lastrowid or 0)
            self._insert_postings(conn, chunk_id, counts)
        return doc_id

    def _insert_postings(self, conn: sqlite3.Connection, chunk_id: int, counts: Counter[str]) -> None:
        conn.executemany(
            "INSERT INTO postings (term, chunk_id, tf) VALUES (?, ?, ?)",
            [(term, chunk_id, tf) for term, tf in counts.items()],
        )

    def _find(self, digest: str) -> DocumentInfo | None:
        with self._lock:
            row = self._db.execute("SELECT id FROM documents WHERE sha256 = ?", (digest,)).fetchone()
        return self._info(int(row[0])) if row else None

    def _info(self, doc_id: int) -> DocumentInfo | None:
        infos = self._infos("WHERE d.id = ?", (doc_id,))
        return infos[0] if infos else None

    def _infos(self, where: str = "", args: tuple[object, ...] = ()) -> builtins.list[DocumentInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.id, d.title, d.source, d.kind, "
                "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.id), d.chars, d.sha256 "
                f"FROM documents d {where} ORDER BY d.id",
                args,
            ).fetchall()
        return [DocumentInfo(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), r[6]) for r in rows]

    def list(self) -> builtins.list[DocumentInfo]:
        """All documents, oldest first."""
        return self._infos()

    def remove(self, doc_id: int) -> None:
        """Delete a document with its chunks; an unknown id is an `InputError`."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                raise InputError(f"no document with id {doc_id} in the knowledge base; list() shows the ids")
            self._delete(conn, doc_id)

    @staticmethod
    def _delete(conn: sqlite3.Connection, doc_id: int) -> None:
        conn.execute("DELETE FROM postings WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?)", (doc_id,))
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def stats(self) -> KnowledgeStats:
        with self._lock:
            row = self._db.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
                "(SELECT count(*) FROM faq), (SELECT count(*) FROM faq_questions)"
            ).fetchone()
        return KnowledgeStats(*(int(value) for value in row))

    # search ------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 4) -> builtins.list[Hit]:
        """The `k` chunks that best match `query`, best first; [] when none match.

        BM25 (k1 1.5, b 0.75) ranks every query; with an embedder, English queries are also ranked by
        sentence-embedding cosine and the two rankings are fused (reciprocal rank fusion), which finds
        paraphrases that share no words with the text. The bundled embedding model is English-only, so
        Chinese queries keep BM25 alone.
        """
        if k < 1:
            return []
        ranked = self._bm25(query, max(k, _FUSION_DEPTH))
        if self.embedder is not None and detect_language(query) == "en":
            ranked = _fuse(ranked, self._by_meaning(query, _FUSION_DEPTH))
        return self._hits(ranked[:k])

    def _bm25(self, query: str, depth: int) -> builtins.list[tuple[int, float]]:
        # Query terms count once: a word and its bigrams and characters already repeat the evidence.
        terms = sorted(set(tokenize(query)))
        if not terms:
            return []
        with self._lock:
            conn = self._db
            total, length_sum = conn.execute("SELECT count(*), total(length) FROM chunks").fetchone()
            frequencies = dict(conn.execute(
                f"SELECT term, count(*) FROM postings WHERE term IN ({','.join('?' * len(terms))}) GROUP BY term",
                terms,
            ).fetchall())
            chosen = _rarest(frequencies)
            rows = conn.execute(
                "SELECT p.term, p.chunk_id, p.tf, c.length FROM postings p JOIN chunks c ON c.id = p.chunk_id "
                f"WHERE p.term IN ({','.join('?' * len(chosen))})",
                chosen,
            ).fetchall() if chosen else []
        if not rows:
            return []
        average = length_sum / total if total else 1.0
        by_term: dict[str, builtins.list[tuple[int, int, int]]] = defaultdict(builtins.list)
        for term, chunk_id, tf, length in rows:
            by_term[term].append((chunk_id, tf, length))
        scores: dict[int, float] = defaultdict(float)
        for term, postings in by_term.items():
            df = frequencies[term]
            idf = math.log(1.0 + (total - df + 0.5) / (df + 0.5))
            if any(char.isdigit() for char in term):
                idf *= NUMBER_BOOST
            for chunk_id, tf, length in postings:
                norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / average)
                scores[chunk_id] += idf * tf * (BM25_K1 + 1.0) / (tf + norm)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:depth]

    def _hits(self, ranked: builtins.list[tuple[int, float]]) -> builtins.list[Hit]:
        ids = [chunk_id for chunk_id, _ in ranked]
        if not ids:
            return []
        with self._lock:
            found = {
                int(r[0]): r
                for r in self._db.execute(
                    "SELECT c.id, c.doc_id, d.title, d.source, c.idx, c.heading, c.text FROM chunks c "
                    f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})",
                    ids,
                ).fetchall()
            }
        return [
            Hit(int(r[1]), r[2], r[3], int(r[4]), r[5], r[6], round(score, 4))
            for chunk_id, score in ranked
            if (r := found.get(chunk_id)) is not None
        ]

    def index_vectors(self) -> int:
        """Embed every chunk that has no vector yet (after adding documents); returns how many were added."""
        if self.embedder is None:
            return 0
        with self._lock:
            missing = self._db.execute(
                "SELECT c.id, c.heading, c.text FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                "WHERE v.chunk_id IS NULL"
            ).fetchall()
        if not missing:
            return 0
        vectors = self.embedder.embed([f"{heading}. {text}" if heading else text for _, heading, text in missing])
        with self._transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO chunk_vectors (chunk_id, vector) VALUES (?, ?)",
                             [(int(row[0]), vector.astype(np.float32).tobytes())
                              for row, vector in zip(missing, vectors, strict=True)])
        return len(missing)

    def _by_meaning(self, query: str, depth: int) -> builtins.list[tuple[int, float]]:
        """Chunks ranked by cosine between the query's and the chunk's embeddings (above a floor)."""
        assert self.embedder is not None
        self.index_vectors()
        with self._lock:
            version = self._version()
            if self._vectors is None or self._vectors[0] != version:
                rows = self._db.execute("SELECT chunk_id, vector FROM chunk_vectors").fetchall()
                ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
                matrix = (np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]) if rows
                          else np.zeros((0, 1), np.float32))
                self._vectors = (version, ids, matrix)
            _, ids, matrix = self._vectors
        if not len(ids):
            return []
        similarity = matrix @ self.embedder.embed([query])[0]
        order = np.argsort(-similarity)[:depth]
        return [(int(ids[i]), float(similarity[i])) for i in order if similarity[i] >= _MEANING_FLOOR]

    # FAQ ---------------------------------------------------------------------------------------

    def add_faq(self, question: str, answer: str, source: str = "") -> FaqEntry:
        """Store an answer for a question. A question stored before gets the new answer; an answer
        stored before gains the question as another phrasing."""
        ids = self._store_faq([([_check_question(question)], _check_answer(answer))], source)
        entry = self._faq_entry(ids[0])
        assert entry is not None
        return entry

    def import_faq(self, path: Path) -> builtins.list[FaqEntry]:
        """Import FAQ entries from a file, all or none. Formats:

        * `.md` / `.txt`: lines starting `Q:` (or `问：`) then `A:` (or `答：`); several `Q:` lines before
          one `A:` are phrasings of one question; an answer runs on until the next `Q:` or heading.
        * `.csv`: rows of `question,answer` (an optional header row `question,answer` is skipped); rows
          with the same answer become phrasings of one entry.
        * `.yaml` / `.yml` (needs PyYAML): a list of `{q: str | [str, ...], a: str}` (`question`/`answer` too).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".md", ".markdown", ".txt", ".csv", ".yaml", ".yml"):
            raise InputError(
                f"{path.name}: unsupported FAQ file type {suffix or '(none)'!r}; use .md, .txt, .csv or .yaml"
            )
        try:
            size = path.stat().st_size
        except OSError as error:
            raise InputError(f"cannot read FAQ file {path}: {error.strerror or error}") from error
        if size > self._max_bytes:
            raise InputError(f"{path.name} is over the {self.settings.max_document_mb:g} MB limit; split it")
        try:
            text = decode_text(path.read_bytes(), path.name)
        except OSError as error:
            raise InputError(f"cannot read FAQ file {path}: {error.strerror or error}") from error
        if suffix == ".csv":
            groups = _parse_faq_csv(text, path.name)
        elif suffix in (".yaml", ".yml"):
            groups = _parse_faq_yaml(text, path.name)
        else:
            groups = _parse_faq_markdown(text, path.name)
        if not groups:
            raise InputError(
                f"{path.name} has no FAQ entries; write `Q: question` lines each followed by an `A: answer` line"
            )
        ids = self._store_faq(groups, path.name)
        entries = [self._faq_entry(faq_id) for faq_id in dict.fromkeys(ids)]
        return [entry for entry in entries if entry is not None]

    def _store_faq(self, groups: Sequence[tuple[Sequence[str], str]], source: str) -> builtins.list[int]:
        forms: builtins.list[builtins.list[tuple[str, str]]] = []
        for questions, _ in groups:
            checked = []
            for question in questions:
                form = _faq_form(question)
                if not form:
                    raise InputError(f"FAQ question {question!r} has no words to match on; rephrase it")
                checked.append((question, form))
            forms.append(checked)
        ids: builtins.list[int] = []
        with self._transaction() as conn:
            for checked, (_, answer) in zip(forms, groups, strict=True):
                row = conn.execute("SELECT id FROM faq WHERE answer = ?", (answer,)).fetchone()
                faq_id = int(row[0]) if row else -1
                if faq_id < 0:
                    # A stored question getting a new answer: reuse its entry when it is the entry's only phrasing.
                    for _, form in checked:
                        old = conn.execute("SELECT faq_id FROM faq_questions WHERE form = ?", (form,)).fetchone()
                        if old and conn.execute(
                            "SELECT count(*) FROM faq_questions WHERE faq_id = ?", (old[0],)
                        ).fetchone()[0] == 1:
                            faq_id = int(old[0])
                            conn.execute("UPDATE faq SET answer = ?, source = ? WHERE id = ?", (answer, source, faq_id))
                            break
                if faq_id < 0:
                    cursor = conn.execute(
                        "INSERT INTO faq (answer, source, added) VALUES (?, ?, ?)", (answer, source, time.time())
                    )
                    faq_id = int(cursor.lastrowid or 0)
                for question, form in checked:
                    old = conn.execute("SELECT faq_id FROM faq_questions WHERE form = ?", (form,)).fetchone()
                    conn.execute("DELETE FROM faq_questions WHERE form = ?", (form,))
                    conn.execute(
                        "INSERT INTO faq_questions (faq_id, question, form) VALUES (?, ?, ?)",
                        (faq_id, " ".join(question.split()), form),
                    )
                    if old and int(old[0]) != faq_id:
                        _drop_if_empty(conn, int(old[0]))
                ids.append(faq_id)
        return ids

    def faqs(self) -> builtins.list[FaqEntry]:
        """All FAQ entries, oldest first."""
        with self._lock:
            ids = [int(r[0]) for r in self._db.execute("SELECT id FROM faq ORDER BY id").fetchall()]
        entries = [self._faq_entry(faq_id) for faq_id in ids]
        return [entry for entry in entries if entry is not None]

    def _faq_entry(self, faq_id: int) -> FaqEntry | None:
        with self._lock:
            row = self._db.execute("SELECT answer, source FROM faq WHERE id = ?", (faq_id,)).fetchone()
            questions = self._db.execute(
                "SELECT question FROM faq_questions WHERE faq_id = ? ORDER BY id", (faq_id,)
            ).fetchall()
        if row is None:
            return None
        return FaqEntry(faq_id, tuple(q[0] for q in questions), row[0], row[1])

    def remove_faq(self, faq_id: int) -> None:
        """Delete an FAQ entry with all its phrasings; an unknown id is an `InputError`."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM faq WHERE id = ?", (faq_id,)).fetchone() is None:
                raise InputError(f"no FAQ entry with id {faq_id}; faqs() shows the ids")
            conn.execute("DELETE FROM faq_questions WHERE faq_id = ?", (faq_id,))
            conn.execute("DELETE FROM faq WHERE id = ?", (faq_id,))

    def faq_answer(self, query: str) -> FaqMatch | None:
        """The stored answer for `query` when the match is certain, else None.

        Certain means either the normalised questions are equal (case, width, punctuation, politeness
        fillers like 请问/你们, and a few fixed synonyms such as 星期天→周日, 什么时候→几点, "what time"→"when"
        are ignored), or all of these hold for one entry:

        * the specifics agree exactly: weekdays, holidays, times of day, relative days, numbers, negation;
        * similarity ≥ `FAQ_MIN_SIMILARITY` (0.75): Dice overlap of Chinese character bigrams, stemmed
          English words (stop words dropped) and numbers;
        * the query has every content word of the stored question (it may add some, not drop or swap any);
        * it beats every other entry with compatible specifics by ≥ `FAQ_MARGIN` (0.10).
        """
        form = _faq_form(query)
        if not form:
            return None
        index = self._faq_index()
        exact = [q for q in index if q.form == form]
        if exact:
            q = exact[0]
            return FaqMatch(q.faq_id, q.question, q.answer, q.source, 1.0, True)
        features = _faq_features(query)
        best: dict[int, tuple[float, _FaqQuestion]] = {}
        for q in index:
            if q.features.slots != features.slots:
                continue
            score = _dice(features.grams, q.features.grams)
            if q.faq_id not in best or score > best[q.faq_id][0]:
                best[q.faq_id] = (score, q)
        ranked = sorted(best.values(), key=lambda item: -item[0])
        if not ranked:
            return None
        score, q = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        if score < FAQ_MIN_SIMILARITY or score - runner_up < FAQ_MARGIN:
            return None
        if not _covers(features.words, q.features.words):
            return None
        return FaqMatch(q.faq_id, q.question, q.answer, q.source, round(score, 4), False)

    def _faq_index(self) -> builtins.list[_FaqQuestion]:
        with self._lock:
            key = self._version()
            if self._faq_cache is not None and self._faq_cache[0] == key:
                return self._faq_cache[1]
            rows = self._db.execute(
                "SELECT q.faq_id, q.question, q.form, f.answer, f.source FROM faq_questions q "
                "JOIN faq f ON f.id = q.faq_id ORDER BY q.id"
            ).fetchall()
        index = [_FaqQuestion(int(r[0]), r[1], r[2], _faq_features(r[1]), r[3], r[4]) for r in rows]
        with self._lock:
            self._faq_cache = (key, index)
        return index


def _drop_if_empty(conn: sqlite3.Connection, faq_id: int) -> None:
    if conn.execute("SELECT 1 FROM faq_questions WHERE faq_id = ?", (faq_id,)).fetchone() is None:
        conn.execute("DELETE FROM faq WHERE id = ?", (faq_id,))


def _check_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise InputError("an FAQ question is empty; give the question text")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"an FAQ question is {len(question)} characters; keep questions under {MAX_QUESTION_CHARS}")
    return question


def _check_answer(answer: str) -> str:
    answer = answer.strip()
    if not answer:
        raise InputError("an FAQ answer is empty; give the answer text")
    if len(answer) > MAX_ANSWER_CHARS:
        raise InputError(f"an FAQ answer is {len(answer)} characters; keep answers under {MAX_ANSWER_CHARS}")
    return answer


_FAQ_MARK = re.compile(
    r"^\s*(?:[-*+>]\s*)?[*_]{0,2}\s*(?P<mark>q|question|问|a|answer|答)\s*[*_]{0,2}\s*[:：]\s*[*_]{0,2}\s*(?P<rest>.*)$",
    re.IGNORECASE,
)


def _parse_faq_markdown(text: str, name: str) -> builtins.list[tuple[builtins.list[str], str]]:
    groups: builtins.list[tuple[builtins.list[str], str]] = []
    questions: builtins.list[str] = []
    answer: builtins.list[str] | None = None
    answer_line = 0

    def finish() -> None:
        nonlocal answer, questions
        if answer is not None:
            text = "\n".join(answer).strip()
            if not text:
                raise InputError(f"{name} line {answer_line}: the answer is empty; write it after `A:`")
            groups.append((questions, _check_answer(text)))
            questions, answer = [], None

    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        found = _FAQ_MARK.match(line)
        mark = found.group("mark").lower() if found else ""
        if found and mark in ("q", "question", "问"):
            finish()
            questions.append(_check_question(found.group("rest")))
        elif found:
            if answer is not None:
                answer.append(found.group("rest"))
                continue
            if not questions:
                raise InputError(f"{name} line {number}: an answer with no question before it; add a `Q:` line")
            answer, answer_line = [found.group("rest")], number
        elif re.match(r"^\s{0,3}#{1,6}\s", line):
            finish()
            if questions:
                raise InputError(f"{name} line {number}: question {questions[-1]!r} has no answer; add an `A:` line")
        elif answer is not None:
            answer.append(line.rstrip())
        elif questions and line.strip():
            raise InputError(f"{name} line {number}: expected `A:` after the question; start the answer with `A:`")
    finish()
    if questions:
        raise InputError(f"{name}: question {questions[-1]!r} has no answer; add an `A:` line after it")
    return groups


def _parse_faq_csv(text: str, name: str) -> builtins.list[tuple[builtins.list[str], str]]:
    groups: builtins.list[tuple[builtins.list[str], str]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() in ("question", "questions", "q", "问题", "问"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise InputError(f"{name} row {number}: expected `question,answer`; quote cells that contain commas")
        groups.append(([_check_question(cells[0])], _check_answer(cells[1])))
    return groups


def _parse_faq_yaml(text: str, name: str) -> builtins.list[tuple[builtins.list[str], str]]:
    try:
        import yaml
    except ImportError as error:
        raise InputError(
            f"reading {name} needs PyYAML (pip install 'talker[mind]'); or write the FAQ as Markdown `Q:`/`A:` lines"
        ) from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(f"{name} is not valid YAML ({error}); check the file") from error
    if isinstance(data, dict) and isinstance(data.get("faq"), builtins.list):
        data = data["faq"]
    if not isinstance(data, builtins.list):
        raise InputError(f"{name}: expected a list of {{q: question, a: answer}} entries")
    groups: builtins.list[tuple[builtins.list[str], str]] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise InputError(f"{name} entry {number}: expected a mapping with `q` and `a`")
        questions = item.get("q", item.get("question"))
        answer = item.get("a", item.get("answer"))
        if isinstance(questions, str):
            questions = [questions]
        if not isinstance(questions, builtins.list) or not questions or not isinstance(answer, str | int | float):
            raise InputError(f"{name} entry {number}: needs `q` (text or list of texts) and `a` (text)")
        groups.append(([_check_question(str(q)) for q in questions], _check_answer(str(answer))))
    return groups
