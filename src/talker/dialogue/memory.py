"""Conversation memory: one SQLite file, one history per session, nothing shared between sessions.

Every session is isolated by its id; there is no global history. Answers the user interrupted are
stored only as far as they were heard, so the model never "remembers" saying what nobody heard.
"""

from __future__ import annotations

import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from talker.dialogue.sqlite import open_database, write_transaction
from talker.errors import InputError
from talker.text.lang import HAN, detect_language
from talker.text.sentences import iter_sentences

Role = Literal["user", "assistant", "summary"]

MAX_TEXT_CHARS = 8000
# Chat templates wrap each message in role markers; a few tokens per turn keeps the budget honest.
TURN_OVERHEAD_TOKENS = 4
SUMMARY_MAX_TOKENS = 256
SUMMARY_QUESTION_MAX_TOKENS = 48
_SUMMARY_PREFIX = {"zh": "此前的问题：", "en": "Earlier questions: "}
_SUMMARY_JOIN = " | "

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_OWNER_CHARS = 200
_MAX_PERSONA_CHARS = 100
_SCHEMA_VERSION = 1
# Characters a tokenizer usually spends a whole token on: Han, kana, Hangul, CJK and full-width marks.
_WIDE = re.compile(f"[{HAN}\u3000-\u303f\u3040-\u30ff\uac00-\ud7af\uff00-\uffef]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    persona TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_owner ON sessions (owner, updated);
CREATE INDEX IF NOT EXISTS sessions_by_updated ON sessions (updated);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'summary')),
    text TEXT NOT NULL,
    created REAL NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted IN (0, 1)),
    heard_chars INTEGER,
    PRIMARY KEY (session_id, idx)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Turn:
    """One message of a session. `index` counts from 0 within the session.

    `interrupted` answers hold only the heard part; `heard_chars` is how many characters of the full
    answer were played (None when it was heard to the end). A `summary` turn stands for older turns
    that did not fit a budget; its index is that of the newest turn it replaces.
    """

    index: int
    role: Role
    text: str
    created: float
    interrupted: bool = False
    heard_chars: int | None = None


@dataclass(frozen=True)
class SessionInfo:
    """A session's metadata."""

    id: str
    owner: str
    persona: str | None
    created: float
    updated: float
    turns: int


def estimate_tokens(text: str) -> int:
    """Rough token count without a tokenizer: one per Han (CJK) character, one per ~4 other characters.

    Whitespace counts among the "other" characters, as BPE tokenizers fold a leading space into words.
    It errs high for Chinese (real tokenizers average 1.2-1.5 characters per token), which is the safe side.
    """
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def turn_tokens(text: str) -> int:
    """What a turn costs in a prompt: its text plus the chat template's role markers."""
    return estimate_tokens(text) + TURN_OVERHEAD_TOKENS


def heard_part(text: str, heard_chars: int) -> str:
    """The part of `text` a listener heard when playback stopped after `heard_chars` characters.

    A word cut in the middle was not heard: Latin words (letters, digits, apostrophes) are cut back to
    their start; each Chinese character is a unit of its own. Trailing spaces and hyphens are dropped.
    """
    if heard_chars >= len(text):
        return text
    head = text[:max(heard_chars, 0)]
    if head and _in_word(head[-1]) and _in_word(text[len(head)]):
        end = len(head)
        while end > 0 and _in_word(head[end - 1]):
            end -= 1
        head = head[:end]
    return head.rstrip().rstrip("-").rstrip()


def _in_word(char: str) -> bool:
    return (char.isalnum() or char in "'’") and not _WIDE.match(char)


class MemoryStore:
    """Sessions and their turns in one SQLite file (WAL). Safe to share between threads.

    Each write is one transaction: on any failure nothing of it remains. Unknown session ids are an
    error, never created implicitly, so a mistyped id cannot start a fresh (or someone else's) history.
    """

    def __init__(
        self, path: Path, max_text_chars: int = MAX_TEXT_CHARS, clock: Callable[[], float] = time.time
    ) -> None:
        if max_text_chars < 1:
            raise InputError(f"max_text_chars must be at least 1, not {max_text_chars}")
        self.path = Path(path)
        self.max_text_chars = max_text_chars
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, "talker memory store")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > _SCHEMA_VERSION:
                raise InputError(
                    f"memory store {self.path} was written by a newer talker (schema {version}); upgrade talker"
                )
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            conn.close()
            raise InputError(
                f"{self.path} is not a usable talker memory store ({error}); move it away or choose another path"
            ) from error
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions --------------------------------------------------------------------------------

    def create_session(self, owner: str = "", session_id: str | None = None, persona: str | None = None) -> str:
        """Start a session and return its id: random unless the client gives one (1-64 of A-Z a-z 0-9 _ -)."""
        if len(owner) > _MAX_OWNER_CHARS:
            raise InputError(f"owner id is {len(owner)} characters; at most {_MAX_OWNER_CHARS} are allowed")
        if persona is not None and not 1 <= len(persona) <= _MAX_PERSONA_CHARS:
            raise InputError(f"persona name must be 1-{_MAX_PERSONA_CHARS} characters, got {len(persona)}")
        if session_id is not None:
            _check_session_id(session_id)
        now = self._clock()
        with self._write() as conn:
            for _ in range(3):
                sid = session_id if session_id is not None else secrets.token_urlsafe(16)
                try:
                    conn.execute(
                        "INSERT INTO sessions (id, owner, persona, created, updated) VALUES (?, ?, ?, ?, ?)",
                        (sid, owner, persona, now, now),
                    )
                    return sid
                except sqlite3.IntegrityError:
                    if session_id is not None:
                        raise InputError(
                            f"session {session_id!r} already exists; choose another id or omit it for a random one"
                        ) from None
            raise InputError("could not generate a unique session id; try again")  # 128 random bits collided

    def session(self, session_id: str) -> SessionInfo:
        """The metadata of one session."""
        with self._read() as conn:
            row = conn.execute(_SESSION_INFO + " WHERE s.id = ? GROUP BY s.id", (session_id,)).fetchone()
        if row is None:
            raise _unknown(session_id)
        return _session_info(row)

    def sessions(self, owner: str | None = None) -> list[SessionInfo]:
        """All sessions (or those of one owner), most recently active first."""
        with self._read() as conn:
            if owner is None:
                rows = conn.execute(_SESSION_INFO + " GROUP BY s.id ORDER BY s.updated DESC").fetchall()
            else:
                rows = conn.execute(
                    _SESSION_INFO + " WHERE s.owner = ? GROUP BY s.id ORDER BY s.updated DESC", (owner,)
                ).fetchall()
        return [_session_info(row) for row in rows]

    def delete_session(self, session_id: str) -> None:
        """Remove a session and all of its turns."""
        with self._write() as conn:
            self._require(conn, session_id)
            conn.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def clear_older_than(self, days: float) -> int:
        """Remove sessions with no activity for `days` days; return how many were removed."""
        if not math.isfinite(days) or days < 0:
            raise InputError(f"days must be a non-negative number, not {days}")
        cutoff = self._clock() - days * 86400.0
        with self._write() as conn:
            conn.execute(
                "DELETE FROM turns WHERE session_id IN (SELECT id FROM sessions WHERE updated < ?)", (cutoff,)
            )
            return conn.execute("DELETE FROM sessions WHERE updated < ?", (cutoff,)).rowcount

    # -- turns -----------------------------------------------------------------------------------

    def add_user(self, session_id: str, text: str) -> Turn:
        """Store what the user said."""
        return self._add(session_id, "user", self._clean(text), interrupted=False, heard_chars=None)

    def add_assistant(self, session_id: str, text: str, heard_chars: int | None = None) -> Turn | None:
        """Store an answer; if playback stopped after `heard_chars` characters, store only the heard part.

        The heard part is cut back to the last whole word (see `heard_part`) and flagged `interrupted`.
        When nothing was heard, nothing is stored and None is returned: the user heard no answer.
        """
        full = self._clean(text)
        if heard_chars is None or heard_chars >= len(text):
            return self._add(session_id, "assistant", full, interrupted=False, heard_chars=None)
        if heard_chars < 0:
            raise InputError(f"heard_chars must be 0 or more, not {heard_chars}")
        heard = heard_part(text, heard_chars).strip()
        if not heard:
            with self._read() as conn:
                self._require(conn, session_id)
            return None
        return self._add(session_id, "assistant", heard, interrupted=True, heard_chars=heard_chars)

    def turns(self, session_id: str) -> list[Turn]:
        """Every stored turn of a session, oldest first."""
        with self._read() as conn:
            self._require(conn, session_id)
            rows = conn.execute(_TURN_COLUMNS + " WHERE session_id = ? ORDER BY idx", (session_id,)).fetchall()
        return [_turn(row) for row in rows]

    def history(self, session_id: str, max_tokens: int) -> list[Turn]:
        """The most recent turns that fit in `max_tokens` (see `turn_tokens`), oldest first.

        Whole turns only, and no gaps: the walk back stops at the first turn that does not fit. If older
        turns are left out, the kept window starts at a user turn and a `summary` turn comes first,
        listing the first sentence of the latest of the user's dropped questions (each at most
        SUMMARY_QUESTION_MAX_TOKENS); a quarter of the budget, at most SUMMARY_MAX_TOKENS, is kept free
        for it. A newest turn larger than the whole budget leaves only the summary.
        """
        if max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, not {max_tokens}")
        with self._read() as conn:
            self._require(conn, session_id)
            recent: list[Turn] = []
            used = 0
            complete = True
            for row in conn.execute(_TURN_COLUMNS + " WHERE session_id = ? ORDER BY idx DESC", (session_id,)):
                turn = _turn(row)
                cost = turn_tokens(turn.text)
                if used + cost > max_tokens:
                    complete = False
                    break
                recent.append(turn)
                used += cost
            if complete:
                return recent[::-1]
            reserve = min(SUMMARY_MAX_TOKENS, max_tokens // 4)
            while recent and used > max_tokens - reserve:
                used -= turn_tokens(recent.pop().text)
            # An answer whose question was dropped is hard to use, and some chat templates want a user
            # message first: the window starts at a question.
            while recent and recent[-1].role != "user":
                used -= turn_tokens(recent.pop().text)
            first_kept = recent[-1].index if recent else _next_index(conn, session_id)
            dropped = conn.execute(
                "SELECT idx, created FROM turns WHERE session_id = ? AND idx < ? ORDER BY idx DESC LIMIT 1",
                (session_id, first_kept),
            ).fetchone()
            questions = conn.execute(
                "SELECT text FROM turns WHERE session_id = ? AND role = 'user' AND idx < ? ORDER BY idx DESC",
                (session_id, first_kept),
            )
            summary = _summarize((str(row[0]) for row in questions), min(SUMMARY_MAX_TOKENS, max_tokens - used))
        if summary is None or dropped is None:
            return recent[::-1]
        return [Turn(int(dropped[0]), "summary", summary, float(dropped[1])), *recent[::-1]]

    # -- internals -------------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        stripped = text.strip()
        if not stripped:
            raise InputError("text is empty; say or type something")
        if len(stripped) > self.max_text_chars:
            raise InputError(
                f"text is {len(stripped)} characters; at most {self.max_text_chars} are allowed per turn, "
                "shorten it or split it"
            )
        return stripped

    def _add(self, session_id: str, role: Role, text: str, interrupted: bool, heard_chars: int | None) -> Turn:
        now = self._clock()
        with self._write() as conn:
            self._require(conn, session_id)
            index = _next_index(conn, session_id)
            conn.execute(
                "INSERT INTO turns (session_id, idx, role, text, created, interrupted, heard_chars)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, index, role, text, now, int(interrupted), heard_chars),
            )
            conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        return Turn(index, role, text, now, interrupted, heard_chars)

    @staticmethod
    def _require(conn: sqlite3.Connection, session_id: str) -> None:
        if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
            raise _unknown(session_id)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"memory store {self.path} is closed")
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_transaction(self._connection(), self._lock, "memory store", self.path) as conn:
            yield conn


_SESSION_INFO = (
    "SELECT s.id, s.owner, s.persona, s.created, s.updated, COUNT(t.idx)"
    " FROM sessions s LEFT JOIN turns t ON t.session_id = s.id"
)
_TURN_COLUMNS = "SELECT idx, role, text, created, interrupted, heard_chars FROM turns"


def _check_session_id(session_id: str) -> None:
    if not _SESSION_ID.fullmatch(session_id):
        raise InputError(
            f"session id {session_id[:80]!r} is not valid; use 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
        )


def _unknown(session_id: str) -> InputError:
    return InputError(f"unknown session {session_id[:80]!r}; create it first (create_session) or check the id")


def _next_index(conn: sqlite3.Connection, session_id: str) -> int:
    row = conn.execute("SELECT MAX(idx) FROM turns WHERE session_id = ?", (session_id,)).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def _turn(row: tuple[object, ...]) -> Turn:
    index, role, text, created, interrupted, heard = row
    return Turn(
        int(cast(int, index)),
        cast(Role, role),
        str(text),
        float(cast(float, created)),
        bool(interrupted),
        None if heard is None else int(cast(int, heard)),
    )


def _session_info(row: tuple[object, ...]) -> SessionInfo:
    sid, owner, persona, created, updated, count = row
    return SessionInfo(
        str(sid),
        str(owner),
        None if persona is None else str(persona),
        float(cast(float, created)),
        float(cast(float, updated)),
        int(cast(int, count)),
    )


def _summarize(questions: Iterator[str], budget: int) -> str | None:
    """An extractive summary: the first sentence of each question, newest kept first, oldest first in text."""
    pieces: list[str] = []
    seen: set[str] = set()
    omitted = False
    for question in questions:
        first = next(iter_sentences(question, max_chars=200), question.strip())
        piece = _cap_tokens(first, SUMMARY_QUESTION_MAX_TOKENS)
        if not piece or piece in seen:
            continue
        if turn_tokens(_summary_text([piece, *pieces], omitted=True)) > budget:
            omitted = True
            break
        pieces.insert(0, piece)
        seen.add(piece)
    if not pieces:
        return None
    return _summary_text(pieces, omitted)


def _summary_text(pieces: list[str], omitted: bool) -> str:
    body = _SUMMARY_JOIN.join(pieces)
    return _SUMMARY_PREFIX[detect_language(body)] + ("… | " if omitted else "") + body


def _cap_tokens(text: str, max_tokens: int) -> str:
    """`text` cut at a word so that it, with an ellipsis, stays within `max_tokens`."""
    if estimate_tokens(text) <= max_tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix within budget; the estimate grows with the prefix
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) <= max_tokens - 1:
            low = middle
        else:
            high = middle - 1
    head = heard_part(text, low)
    return head + "…" if head else ""
