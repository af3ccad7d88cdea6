"""Conversation memory: isolated sessions, token budgets, interrupted answers, restarts, bad input."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from talker.dialogue.memory import (
    MemoryStore,
    estimate_tokens,
    heard_part,
    turn_tokens,
)
from talker.errors import InputError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory.sqlite") as memory:
        yield memory


def test_sessions_never_see_each_other(store: MemoryStore) -> None:
    alice = store.create_session(owner="bank")
    bob = store.create_session(owner="bank")
    assert alice != bob
    store.add_user(alice, "My account number is 1234.")
    store.add_assistant(alice, "Thank you, Alice.")
    store.add_user(bob, "我想开户。")
    assert [t.text for t in store.history(alice, 1000)] == ["My account number is 1234.", "Thank you, Alice."]
    assert [t.text for t in store.history(bob, 1000)] == ["我想开户。"]
    assert [t.index for t in store.turns(bob)] == [0]


def test_concurrent_writes_stay_in_their_session(store: MemoryStore) -> None:
    ids = [store.create_session() for _ in range(6)]
    start = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def talk(session_id: str) -> None:
        try:
            start.wait()
            for n in range(40):
                store.add_user(session_id, f"{session_id} question {n}")
                store.add_assistant(session_id, f"{session_id} answer {n}")
                store.history(session_id, 200)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=talk, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for sid in ids:
        turns = store.turns(sid)
        assert len(turns) == 80
        assert [t.index for t in turns] == list(range(80))
        assert all(t.text.startswith(f"{sid} ") for t in turns)
        assert [t.text for t in turns[:2]] == [f"{sid} question 0", f"{sid} answer 0"]


def test_two_stores_on_one_file_share_it(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with MemoryStore(path) as first, MemoryStore(path) as second:
        sid = first.create_session()
        second.add_user(sid, "hello")
        assert [t.text for t in first.turns(sid)] == ["hello"]


def test_estimate_tokens_ranges() -> None:
    english = "The quick brown fox jumps over the lazy dog while the bank stays open until five. " * 5
    chinese = "您好，欢迎光临星河银行，请问您需要办理什么业务？" * 5
    words = len(english.split())
    assert words * 1.0 <= estimate_tokens(english) <= words * 1.6  # real BPE: ~1.3 tokens per word
    assert len(chinese) * 0.6 <= estimate_tokens(chinese) <= len(chinese) * 1.1  # ~1 per character
    assert estimate_tokens("") == 0
    assert estimate_tokens("我用iPhone拍照") == 4 + 2
    assert turn_tokens("") > 0


def test_history_keeps_recent_turns_and_summarises_the_rest(store: MemoryStore) -> None:
    sid = store.create_session()
    filler = " Please also explain the fees, the conditions and every form I need to bring along." * 6
    for n in range(20):
        store.add_user(sid, f"What about topic {n}?{filler}")
        store.add_assistant(sid, f"Topic {n} works like this." + " It is simple and quick." * 30)
    budget = 1500
    history = store.history(sid, budget)
    assert sum(turn_tokens(t.text) for t in history) <= budget
    summary, recent = history[0], history[1:]
    assert summary.role == "summary"
    assert all(t.role != "summary" for t in recent)
    # the kept turns are the newest, contiguous, oldest first, starting at a question
    assert [t.index for t in recent] == list(range(recent[0].index, 40))
    assert recent[0].role == "user"
    assert 2 <= len(recent) < 40
    # the summary names the dropped questions by their first sentence, the latest ones surely
    first_kept_topic = recent[0].index // 2
    assert f"topic {first_kept_topic - 1}?" in summary.text
    assert "fees" not in summary.text
    assert summary.index == recent[0].index - 1
    assert all(f"topic {n}?" not in summary.text for n in range(first_kept_topic, 20))


def test_history_summary_in_chinese(store: MemoryStore) -> None:
    sid = store.create_session()
    for n in range(12):
        store.add_user(sid, f"第{n}个问题：信用卡年费怎么收？还有很多补充说明" + "补充" * 40)
        store.add_assistant(sid, "年费首年免收，之后刷满六次也免。" * 6)
    history = store.history(sid, 500)
    assert history[0].role == "summary"
    assert history[0].text.startswith("此前的问题：")
    assert "信用卡年费怎么收？" in history[0].text
    assert sum(turn_tokens(t.text) for t in history) <= 500


def test_history_fits_whole_without_summary(store: MemoryStore) -> None:
    sid = store.create_session()
    store.add_user(sid, "Hi")
    store.add_assistant(sid, "Hello!")
    assert [t.role for t in store.history(sid, 100)] == ["user", "assistant"]
    assert store.history(store.create_session(), 100) == []


def test_history_budget_smaller_than_the_newest_turn(store: MemoryStore) -> None:
    sid = store.create_session()
    store.add_user(sid, "Where is the nearest branch? " + "Tell me more. " * 100)
    history = store.history(sid, 60)
    assert [t.role for t in history] == ["summary"]
    assert "Where is the nearest branch?" in history[0].text
    assert turn_tokens(history[0].text) <= 60


@pytest.mark.parametrize(
    ("text", "heard", "stored"),
    [
        ("Hello wonderful world", 9, "Hello"),  # mid-word: "wond" was not a word heard
        ("Hello wonderful world", 15, "Hello wonderful"),
        ("Hello wonderful world", 16, "Hello wonderful"),
        ("Don't worry about it", 3, ""),
        ("你好世界，欢迎光临", 3, "你好世"),  # each Chinese character counts
        ("你好世界，欢迎光临", 5, "你好世界，"),
        ("我用iPhone拍照", 4, "我用"),
        ("well-known bank", 7, "well"),
    ],
)
def test_heard_part(text: str, heard: int, stored: str) -> None:
    assert heard_part(text, heard) == stored


def test_interrupted_answer_stored_truncated(store: MemoryStore) -> None:
    sid = store.create_session()
    english = store.add_assistant(sid, "Your card will arrive within seven working days.", heard_chars=27)
    chinese = store.add_assistant(sid, "您的卡片将在七个工作日内寄到。", heard_chars=6)
    assert english is not None and chinese is not None
    assert (english.text, english.interrupted, english.heard_chars) == ("Your card will arrive", True, 27)
    assert (chinese.text, chinese.interrupted) == ("您的卡片将在", True)
    assert store.turns(sid) == [english, chinese]


def test_answer_heard_to_the_end_is_stored_whole(store: MemoryStore) -> None:
    sid = store.create_session()
    text = "We open at nine."
    for heard in (len(text), len(text) + 10, None):
        turn = store.add_assistant(sid, text, heard_chars=heard)
        assert turn is not None
        assert (turn.text, turn.interrupted, turn.heard_chars) == (text, False, None)


def test_answer_interrupted_before_a_word_stores_nothing(store: MemoryStore) -> None:
    sid = store.create_session()
    assert store.add_assistant(sid, "Certainly, let me check.", heard_chars=0) is None
    assert store.add_assistant(sid, "Certainly, let me check.", heard_chars=4) is None
    assert store.turns(sid) == []
    with pytest.raises(InputError, match="unknown session"):
        store.add_assistant("nope", "Certainly.", heard_chars=0)


def test_restart_keeps_histories(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "memory.sqlite"
    with MemoryStore(path) as store:
        first = store.create_session(owner="key-1", persona="小慧")
        second = store.create_session(owner="key-2", session_id="kiosk-7")
        store.add_user(first, "你好")
        store.add_assistant(first, "您好，请问需要什么帮助？", heard_chars=5)
        store.add_user(second, "Hi")
        before = {sid: store.turns(sid) for sid in (first, second)}
        infos = sorted(store.sessions(), key=lambda s: s.id)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with MemoryStore(path) as store:
        assert {sid: store.turns(sid) for sid in (first, second)} == before
        assert sorted(store.sessions(), key=lambda s: s.id) == infos
        assert store.session(first).persona == "小慧"
        assert [s.id for s in store.sessions(owner="key-2")] == ["kiosk-7"]
        store.add_user(first, "再见")
        assert store.turns(first)[-1].index == 2


def test_delete_removes_only_that_session(store: MemoryStore) -> None:
    keep = store.create_session()
    drop = store.create_session()
    for sid in (keep, drop):
        store.add_user(sid, "question")
        store.add_assistant(sid, "answer")
    store.delete_session(drop)
    assert [s.id for s in store.sessions()] == [keep]
    assert len(store.turns(keep)) == 2
    with pytest.raises(InputError, match="unknown session"):
        store.turns(drop)
    with pytest.raises(InputError, match="unknown session"):
        store.delete_session(drop)
    left = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM turns WHERE session_id = ?", (drop,))
    assert left.fetchone()[0] == 0


def test_clear_older_than(tmp_path: Path) -> None:
    now = [1_000_000.0]
    with MemoryStore(tmp_path / "m.sqlite", clock=lambda: now[0]) as store:
        old = store.create_session()
        store.add_user(old, "old question")
        now[0] += 10 * 86400
        fresh = store.create_session()
        store.add_user(fresh, "new question")
        now[0] += 86400
        assert store.clear_older_than(5) == 1
        assert [s.id for s in store.sessions()] == [fresh]
        assert store.clear_older_than(5) == 0
        with pytest.raises(InputError, match="days"):
            store.clear_older_than(-1)


def test_bad_input_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.sqlite", max_text_chars=100) as store:
        sid = store.create_session()
        store.add_user(sid, "first")
        with pytest.raises(InputError, match="unknown session"):
            store.add_user("no-such-session", "hello")
        with pytest.raises(InputError, match="unknown session"):
            store.history("no-such-session", 100)
        for empty in ("", "   \n\t"):
            with pytest.raises(InputError, match="empty"):
                store.add_user(sid, empty)
            with pytest.raises(InputError, match="empty"):
                store.add_assistant(sid, empty)
        with pytest.raises(InputError, match="at most 100"):
            store.add_user(sid, "x" * 101)
        with pytest.raises(InputError, match="heard_chars"):
            store.add_assistant(sid, "an answer", heard_chars=-1)
        for bad in ("", "a" * 65, "has space", "semi;colon", "中文", "../etc"):
            with pytest.raises(InputError, match="not valid"):
                store.create_session(session_id=bad)
        store.create_session(session_id="kiosk_7-A")
        with pytest.raises(InputError, match="already exists"):
            store.create_session(session_id="kiosk_7-A")
        with pytest.raises(InputError, match="max_tokens"):
            store.history(sid, 0)
        assert [t.text for t in store.turns(sid)] == ["first"]
        assert sorted(s.turns for s in store.sessions()) == [0, 1]
        assert "no-such-session" not in {s.id for s in store.sessions()}


def test_default_text_limit(store: MemoryStore) -> None:
    sid = store.create_session()
    store.add_user(sid, "字" * 8000)
    with pytest.raises(InputError, match="8000"):
        store.add_user(sid, "字" * 8001)
    assert len(store.turns(sid)) == 1


def test_failed_write_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    with MemoryStore(path, clock=lambda: 42.0) as store:
        sid = store.create_session()
        store.add_user(sid, "kept")
        # Make the last statement of add_user (the session's `updated`) fail after the turn is inserted.
        with sqlite3.connect(path) as saboteur:
            saboteur.execute(
                "CREATE TRIGGER fail BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        with pytest.raises(sqlite3.DatabaseError, match="disk trouble"):
            store.add_user(sid, "lost")
        with pytest.raises(sqlite3.DatabaseError, match="disk trouble"):
            store.add_assistant(sid, "lost too", heard_chars=4)
        assert [t.text for t in store.turns(sid)] == ["kept"]
        assert store.session(sid).turns == 1


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    path.write_bytes(b"this is not sqlite, just some text that is long enough to have a header" * 20)
    with pytest.raises(InputError, match="not a usable talker memory store"):
        MemoryStore(path)
    with pytest.raises(InputError, match="directory"):
        MemoryStore(tmp_path)


def test_summary_keeps_the_latest_questions_when_capped(store: MemoryStore) -> None:
    sid = store.create_session()
    for n in range(60):
        store.add_user(sid, f"Is question {n} answered yet?")
        store.add_assistant(sid, "Not yet, " + "still working on it. " * 20)
    history = store.history(sid, 400)
    summary = history[0]
    assert summary.role == "summary"
    assert summary.text.startswith("Earlier questions: … | ")
    assert f"question {history[1].index // 2 - 1} answered" in summary.text
    assert "question 0 answered" not in summary.text
    assert sum(turn_tokens(t.text) for t in history) <= 400
