"""Document readers for the knowledge base: text, Markdown, PDF, Word (.docx) and HTML become plain text.

Every reader returns the same light format: paragraphs separated by blank lines and headings written
as Markdown `#` lines (whatever the source format called them), so the chunker finds the heading
context the same way for all kinds.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from talker.errors import InputError
from talker.text.lang import HAN

DocumentKind = Literal["txt", "md", "pdf", "docx", "html"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

KINDS: dict[str, DocumentKind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
}
_TEXT_KINDS = ("txt", "md", "html")
# Decoded text with more control characters than this is binary that happened to decode.
_MAX_CONTROL_SHARE = 0.01


@dataclass(frozen=True)
class Document:
    """A document's text in the light format (headings as `#` lines), its title, file name and kind."""

    title: str
    text: str
    source: str
    kind: DocumentKind


def supported_extensions() -> tuple[str, ...]:
    return tuple(KINDS)


def read_document(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read a supported file into a `Document`; any unusable file is an `InputError` naming it."""
    path = Path(path)
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        hint = " (save .doc files as .docx)" if path.suffix.lower() == ".doc" else ""
        raise InputError(
            f"{path.name}: unsupported document type {path.suffix or '(no extension)'!r}{hint}; "
            f"supported: {', '.join(KINDS)}"
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise InputError(f"document {path} not found; check the path") from error
    except OSError as error:
        raise InputError(f"cannot read document {path}: {error.strerror or error}") from error
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a document file")
    if size > max_bytes:
        raise InputError(
            f"{path.name} is {_size(size)}, over the {_size(max_bytes)} limit for documents; "
            "split it into smaller files or raise the limit"
        )
    if size == 0:
        raise InputError(f"{path.name} is empty; give a document with text in it")
    try:
        data = path.read_bytes() if kind in _TEXT_KINDS else b""
    except OSError as error:
        raise InputError(f"cannot read document {path}: {error.strerror or error}") from error

    if kind == "txt":
        text = plain_text(decode_text(data, path.name))
        first = re.match(r"\s*# (.+)", text)
        title = first.group(1) if first else path.stem
    elif kind == "md":
        title, text = markdown_text(decode_text(data, path.name))
        title = title or path.stem
    elif kind == "html":
        title, text = html_text(decode_text(data, path.name, _declared_charset(data)))
        title = title or path.stem
    elif kind == "pdf":
        title, text = _pdf_text(path)
        title = title or path.stem
    else:
        title, text = _docx_text(path)
        title = title or path.stem
    text = _tidy(text)
    if not text.strip("# \n"):
        what = "no extractable text (a scanned PDF needs OCR first)" if kind == "pdf" else "no text"
        raise InputError(f"{path.name} has {what}; give a document with text in it")
    return Document(title=_one_line(title), text=text, source=path.name, kind=kind)


# --- decoding -------------------------------------------------------------------------------------


def decode_text(data: bytes, name: str, declared: str | None = None) -> str:
    """Bytes of a text file → str: UTF-16 with a BOM, a declared charset, UTF-8 (BOM or not), or GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _checked(data.decode("utf-16"), name)
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise InputError(f"{name} is not a text document (it contains binary data); check the file")
    encodings = ["utf-8-sig", "gb18030"]
    if declared:
        encodings.insert(0, declared)
    for encoding in encodings:
        try:
            return _checked(data.decode(encoding), name)
        except (UnicodeDecodeError, LookupError):
            continue
    raise InputError(
        f"{name} is not a text document (not UTF-8 or GB18030 text); check the file or re-save it as UTF-8"
    )


def _checked(text: str, name: str) -> str:
    controls = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v\x1b")
    if controls > _MAX_CONTROL_SHARE * max(len(text), 1):
        raise InputError(f"{name} is not a text document (it contains binary data); check the file")
    return text


def _declared_charset(data: bytes) -> str | None:
    match = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", data[:4096], re.IGNORECASE)
    if not match:
        return None
    name = match.group(1).decode("ascii").lower()
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    # gb2312 and gbk pages routinely contain characters only their superset has.
    return "gb18030" if name in ("gb2312", "gbk", "x-gbk") else name


# --- plain text and Markdown ----------------------------------------------------------------------

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_ZH_SECTION = re.compile(
    r"^\s*(?:【[^】]{1,30}】|[一二三四五六七八九十]{1,3}[、.．]\s*[^。！？；.!?;]{1,30}"
    r"|第[一二三四五六七八九十\d]{1,3}[章节部分篇][^。！？；]{0,30})\s*$"
)


def plain_text(text: str) -> str:
    """Plain text: Markdown-style and common Chinese section titles (【…】, 一、…, 第一章) become headings."""
    lines = _normalise_newlines(text).split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        if _SETEXT.match(line) and out and out[-1].strip() and not out[-1].startswith("#"):
            level = 1 if line.strip().startswith("=") else 2
            out[-1] = "#" * level + " " + out[-1].strip()
            out.append("")
            continue
        atx = _ATX.match(line)
        if atx and atx.group(2):
            out.extend([_heading(len(atx.group(1)), atx.group(2)), ""])
        elif _ZH_SECTION.match(line) and _followed_by_text(lines, index):
            out.extend([_heading(2, line.strip().strip("【】")), ""])
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def _followed_by_text(lines: list[str], index: int) -> bool:
    """A section title has text under it; a run of numbered lines (一、… 二、…) is a list of steps."""
    following = next((line for line in lines[index + 1:] if line.strip()), "")
    return bool(following) and not _ZH_SECTION.match(following) and not _ATX.match(following)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*\n", re.DOTALL)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_INLINE = [
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),
]
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+.*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^\s{0,3}>\s?")


def markdown_text(text: str) -> tuple[str, str]:
    """Markdown → (title, light text): inline markup, links, quotes, rules and table pipes go; headings stay."""
    text = _normalise_newlines(text)
    title = ""
    front = _FRONT_MATTER.match(text)
    if front:
        found = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", front.group(1), re.MULTILINE)
        title = found.group(1) if found else ""
        text = text[front.end():]
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(" " + line.rstrip() if line.startswith("#") else line.rstrip())  # code, not a heading
            continue
        if _LINK_DEF.match(line):
            continue
        line = _QUOTE.sub("", line)
        if _SETEXT.match(line) and out and out[-1].strip() and not out[-1].startswith("#"):
            level = 1 if line.strip().startswith("=") else 2
            out[-1] = _heading(level, out[-1])
            out.append("")
            continue
        if _TABLE_RULE.match(line) and "|" in line:
            continue
        if _HR.match(line):
            out.append("")
            continue
        atx = _ATX.match(line)
        if atx:
            heading = _inline(atx.group(2))
            if heading:
                out.extend(["", _heading(len(atx.group(1)), heading), ""])
                if not title and len(atx.group(1)) == 1:
                    title = heading
            continue
        line = _inline(line)
        if line.lstrip().startswith("|") or line.count("|") >= 2:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            line = " | ".join(cell for cell in cells if cell)
        out.append(line.rstrip())
    return _inline(title), "\n".join(out)


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


# --- HTML -----------------------------------------------------------------------------------------

_SKIP = {"script", "style", "nav", "noscript", "template", "svg", "iframe", "object", "canvas", "select", "button"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "ul", "ol", "table", "thead", "tbody",
    "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "address", "form", "fieldset", "details",
    "summary", "caption",
}


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.first_h1: list[str] = []
        self._skip = 0
        self._in_title = False
        self._pre = 0
        self._heading = 0
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip or tag in _SKIP or (tag not in _VOID and any(name == "hidden" for name, _ in attrs)):
            if tag not in _VOID:
                self._skip += 1
            return
        if tag == "title":
            self._in_title = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = int(tag[1])
            self.parts.append("\n\n" + "#" * self._heading + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "tr":
            self.parts.append("\n")
            self._cells = 0
        elif tag in ("td", "th"):
            if self._cells:
                self.parts.append(" | ")
            self._cells += 1
        elif tag in ("br", "hr"):
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag not in _VOID:
                self._skip -= 1
            return
        if tag == "title":
            self._in_title = False
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = 0
            self.parts.append("\n\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
            if tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title_parts.append(data)
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)
        if self._heading:
            data = data.replace("\n", " ")
            if self._heading == 1:
                self.first_h1.append(data)
        self.parts.append(data)


def html_text(html: str) -> tuple[str, str]:
    """HTML → (title, light text): scripts, styles, navigation and hidden elements are dropped."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    title = _one_line("".join(parser.title_parts)) or _one_line("".join(parser.first_h1))
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return title, "\n".join(line for line in lines if line not in ("-", "#"))


# --- PDF and Word ---------------------------------------------------------------------------------


def _pdf_text(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader

    # pypdf logs every repair it makes to a damaged file; the user gets our one-line verdict instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(f"{path.name} is an encrypted PDF; save a copy without a password and add that")
        title = ""
        metadata = reader.metadata
        if metadata is not None and metadata.title and not re.match(r"(?i)untitled|microsoft word", metadata.title):
            title = str(metadata.title)
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    # pypdf reports damage through many exception types (its own, ValueError, KeyError, struct errors…).
    except Exception as error:
        if "decrypt" in str(error).lower() or "password" in str(error).lower():
            raise InputError(f"{path.name} is an encrypted PDF; save a copy without a password and add that") from error
        raise InputError(f"{path.name} is not a readable PDF ({error}); check the file or export it again") from error
    text = "\n\n".join(page.strip() for page in pages)
    text = re.sub(r"(?<=[A-Za-z])-\n(?=[a-z])", "", text)  # words hyphenated at line ends
    return title, text


def _docx_text(path: Path) -> tuple[str, str]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        title = document.core_properties.title or ""
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = []
                for row in item.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        value = _one_line(cell.text)
                        if value and (not cells or cells[-1] != value):  # merged cells repeat
                            cells.append(value)
                    if cells:
                        rows.append(" | ".join(cells))
                blocks.append("\n".join(rows))
                continue
            value = item.text.strip()
            if not value:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            level = _docx_heading_level(style)
            if level:
                blocks.append(_heading(level, value))
                if not title and level == 1:
                    title = value
            elif style.lower().startswith("list"):
                blocks.append("- " + value)
            else:
                blocks.append(value)
    # A damaged .docx fails in zipfile, lxml or python-docx, each with its own exception types.
    except Exception as error:
        raise InputError(f"{path.name} is not a readable Word (.docx) file ({error}); check the file") from error
    return title, "\n\n".join(blocks)


def _docx_heading_level(style: str) -> int:
    if style.lower() == "title":
        return 1
    match = re.match(r"(?i)(?:heading|标题)\s*(\d)$", style.strip())
    return min(int(match.group(1)), 6) if match else 0


# --- shared helpers -------------------------------------------------------------------------------


def _size(n: int) -> str:
    value, unit = (n / 1048576, "MB") if n >= 1048576 else (n / 1024, "KB")
    return f"{value:.1f}".removesuffix(".0") + " " + unit


def _heading(level: int, text: str) -> str:
    return "#" * level + " " + _one_line(text)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")


def _tidy(text: str) -> str:
    text = _normalise_newlines(text).replace("\u00a0", " ").replace("\u200b", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    # Full-width spaces used as Chinese indentation carry nothing.
    text = re.sub(f"(?m)^[ \u3000]+(?=[{HAN}])", "", text)
    return text.strip()
