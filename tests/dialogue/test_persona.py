"""Personas: defaults, YAML and TOML files, bad files, language policy, answer budgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from talker.dialogue.persona import DEFAULT_PERSONA, Persona, load_persona
from talker.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "personas" / "bank_assistant.yaml"


def test_defaults() -> None:
    persona = Persona()
    assert persona == DEFAULT_PERSONA
    assert persona.name == "小慧"
    assert persona.language == "auto"
    assert persona.answer_length == "short"
    assert persona.examples == () and persona.facts == ()
    assert persona.max_sentences <= 2
    assert 0 < persona.max_new_tokens < Persona(answer_length="medium").max_new_tokens
    assert Persona(answer_length="medium").max_new_tokens < Persona(answer_length="long").max_new_tokens
    assert Persona(answer_length="long").max_sentences > Persona(answer_length="medium").max_sentences


def test_shipped_example_uses_every_field() -> None:
    persona = load_persona(EXAMPLE)
    assert persona.model_fields_set == set(Persona.model_fields)
    assert persona.examples[0].user.endswith("需要带什么？")
    assert any("9:00" in fact for fact in persona.facts)
    assert any("weekdays" in fact for fact in persona.facts)


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(
        "name: Dr. Lin\n"
        "role: the clinic's front-desk assistant\n"
        "language: en\n"
        "answer_length: medium\n"
        "examples:\n"
        "  - {user: 'When can I come?', assistant: 'Any weekday morning.'}\n"
        "facts: ['  No walk-ins on Sunday.  ']\n",
        encoding="utf-8",
    )
    persona = load_persona(path)
    assert persona.name == "Dr. Lin"
    assert persona.answer_length == "medium"
    assert persona.examples[0].assistant == "Any weekday morning."
    assert persona.facts == ("No walk-ins on Sunday.",)
    assert persona.greeting == DEFAULT_PERSONA.greeting  # left out → default


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "school.toml"
    path.write_text(
        'name = "小智"\n'
        'role = "学校的招生咨询助手"\n'
        'language = "zh"\n'
        'answer_length = "long"\n'
        'facts = ["报名截止日期是六月三十日。"]\n'
        "[[examples]]\n"
        'user = "学费多少？"\n'
        'assistant = "每学期五千元。"\n',
        encoding="utf-8",
    )
    persona = load_persona(path)
    assert (persona.name, persona.language, persona.answer_length) == ("小智", "zh", "long")
    assert persona.examples[0].assistant == "每学期五千元。"


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_unknown_keys_are_named(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    body = "nmae: x\nvoice: y\n" if suffix == ".yaml" else 'nmae = "x"\nvoice = "y"\n'
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown keys nmae, voice; known keys are name, role"):
        load_persona(path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("answer_length: huge\n", "answer_length"),
        ("language: fr\n", "language"),
        ("name: ''\n", "name"),
        ("name: 123\n", "name"),
        ("facts: ['ok', '']\n", "facts.1"),
        ("examples:\n  - {user: hi}\n", "examples.0.assistant"),
        ("examples:\n  - {user: hi, assistant: yo, extra: 1}\n", "examples.0.extra: unknown key"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=field):
        load_persona(path)


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("missing.yaml", None, "not found"),
        ("p.json", "{}", r"\.yaml, \.yml or \.toml"),
        ("p.yaml", "", "empty"),
        ("p.yaml", "- a\n- b\n", "mapping"),
        ("p.yaml", "name: [unclosed\n", "not valid YAML at line"),
        ("p.toml", "name = \n", "not valid TOML"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, body: str | None, message: str) -> None:
    path = tmp_path / name
    if body is not None:
        path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_persona(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes("name: 小慧\n".encode("gbk"))
    with pytest.raises(InputError, match="UTF-8"):
        load_persona(path)


@pytest.mark.parametrize(
    ("policy", "text", "expected"),
    [
        ("auto", "请问营业时间是几点？", "zh"),
        ("auto", "What are your opening hours?", "en"),
        ("auto", "我想用Apple Pay付款", "zh"),
        ("auto", "123", "zh"),  # no words: the (Chinese-first) greeting decides
        ("zh", "What are your opening hours?", "zh"),
        ("en", "请问营业时间是几点？", "en"),
    ],
)
def test_reply_language(policy: str, text: str, expected: str) -> None:
    assert Persona.model_validate({"language": policy}).reply_language(text) == expected


def test_auto_without_words_follows_an_english_greeting() -> None:
    assert Persona(greeting="Hello! How can I help?").reply_language("？") == "en"


def test_persona_is_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        DEFAULT_PERSONA.name = "other"  # type: ignore[misc]
