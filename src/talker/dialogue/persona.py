"""Who the digital human is: name, role, style, language policy, answer length, examples and facts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from talker.errors import BackendUnavailableError, InputError
from talker.text.lang import Language, detect_language

LanguagePolicy = Literal["auto", "zh", "en"]
AnswerLength = Literal["short", "medium", "long"]
Fact = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

# answer_length → (sentences the prompt asks for, token cap for generation)
ANSWER_BUDGETS: dict[str, tuple[int, int]] = {"short": (2, 120), "medium": (4, 260), "long": (8, 520)}
_MAX_FILE_BYTES = 1_000_000
_HAN_OR_LATIN = re.compile(r"[A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class Example(BaseModel):
    """One few-shot exchange shown to the model."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    user: str = Field(min_length=1, max_length=1000)
    assistant: str = Field(min_length=1, max_length=2000)


class Persona(BaseModel):
    """The character the assistant plays. Immutable; load one per deployment with `load_persona`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field("小慧", min_length=1, max_length=40)
    role: str = Field(
        "a friendly bilingual digital assistant", min_length=1, max_length=300, description="who the persona is"
    )
    style: str = Field("warm, clear and brief; plain words, no lists", min_length=1, max_length=300)
    language: LanguagePolicy = Field("auto", description="auto: answer in the user's language; zh or en: always")
    answer_length: AnswerLength = "short"
    greeting: str = Field(
        "您好，我是小慧，有什么可以帮您？Hello, I'm Xiaohui. How can I help?", min_length=1, max_length=500
    )
    examples: tuple[Example, ...] = Field((), max_length=12)
    facts: tuple[Fact, ...] = Field((), max_length=50, description="short statements always given to the model")

    @property
    def max_sentences(self) -> int:
        """How many sentences an answer should have at most (asked of the model in the prompt)."""
        return ANSWER_BUDGETS[self.answer_length][0]

    @property
    def max_new_tokens(self) -> int:
        """The generation cap that goes with `answer_length`."""
        return ANSWER_BUDGETS[self.answer_length][1]

    def reply_language(self, user_text: str) -> Language:
        """The language to answer `user_text` in.

        "auto" follows the user's text; text with neither Chinese nor Latin letters (digits, "?", empty)
        says nothing about the language, so the greeting's language is used.
        """
        if self.language != "auto":
            return self.language
        if _HAN_OR_LATIN.search(user_text) is None:
            return detect_language(self.greeting)
        return detect_language(user_text)


DEFAULT_PERSONA = Persona()


def load_persona(path: Path) -> Persona:
    """Read a persona from YAML (.yaml, .yml) or TOML (.toml); every field is optional."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise InputError(f"persona file {path} must end in .yaml, .yml or .toml")
    if not path.is_file():
        raise InputError(f"persona file {path} not found; check the path")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise InputError(f"persona file {path} is larger than {_MAX_FILE_BYTES // 1000} kB; a persona is a few lines")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"persona file {path} is not UTF-8 text; save it as UTF-8") from error
    except OSError as error:
        raise InputError(f"cannot read persona file {path}: {error.strerror}") from error
    data = _parse_toml(path, text) if suffix == ".toml" else _parse_yaml(path, text)
    if data is None:
        raise InputError(f"persona file {path} is empty; see docs/personas/bank_assistant.yaml for the fields")
    if not isinstance(data, dict):
        raise InputError(f"persona file {path} must hold a mapping of fields (name: ..., role: ...)")
    unknown = sorted(str(key) for key in data if key not in Persona.model_fields)
    if unknown:
        raise InputError(
            f"persona file {path}: unknown keys {', '.join(unknown)}; known keys are {', '.join(Persona.model_fields)}"
        )
    try:
        return Persona.model_validate(data)
    except ValidationError as error:
        raise InputError(f"persona file {path}: {_describe(error)}") from error


def _parse_toml(path: Path, text: str) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"persona file {path} is not valid TOML: {error}") from error
    return data or None


def _parse_yaml(path: Path, text: str) -> object:
    try:
        import yaml
    except ImportError as error:
        raise BackendUnavailableError(
            "reading a YAML persona needs PyYAML (pip install pyyaml); or write the persona as .toml"
        ) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"persona file {path} is not valid YAML{where}: {error}") from error


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as "field: what is wrong" lines, naming nested fields as examples.0.user."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "persona"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{field}: {message}")
    return "; ".join(problems)
