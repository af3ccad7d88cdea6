"""multipart/form-data (what OpenAI's transcription clients send), parsed as it streams in.

The file part flows straight into `uploads.receive` (size-checked, sniffed, server-named); small text
fields are kept in memory up to a cap. Nothing touches the system's temp directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Request

from talker.server.problems import Problem, bad_request
from talker.server.uploads import Kind, Upload, UploadLimits, check_declared_length, receive

MAX_FIELD_BYTES = 16_384
MAX_FIELDS = 32


class _Parts:
    """Callbacks for python-multipart: file bytes are queued for the receiver, fields collected."""

    def __init__(self, file_field: str) -> None:
        self.file_field = file_field
        self.fields: dict[str, list[str]] = {}
        self.filename: str | None = None
        self.file_seen = False
        self.pending: list[bytes] = []
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value_part, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._data, "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._value, self._is_file, self._name = {}, bytearray(), False, ""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = self._name == self.file_field
        if self._is_file:
            if self.file_seen:
                raise bad_request(f"send one `{self.file_field}` part, not several")
            self.file_seen = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw else None

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.pending.append(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise Problem(413, "Content too large", f"the form field `{self._name}` is over {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if not self._is_file and self._name:
            if sum(len(v) for v in self.fields.values()) >= MAX_FIELDS:
                raise bad_request(f"too many form fields (at most {MAX_FIELDS})")
            self.fields.setdefault(self._name, []).append(self._value.decode("utf-8", "replace"))


async def receive_form(request: Request, kind: Kind, directory: Path, limits: UploadLimits,
                       file_field: str = "file") -> tuple[Upload, dict[str, list[str]]]:
    """The form's file (validated and stored) and its text fields (each name → its values)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    check_declared_length(request.headers.get("content-length"), limits)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise Problem(415, "Unsupported media type",
                      f"send multipart/form-data with the audio in a `{file_field}` part")
    parts = _Parts(file_field)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]  # a TypedDict of the same keys

    async def file_bytes() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except Problem:
                raise
            except Exception:
                raise bad_request("the multipart body is malformed; let your HTTP client build it") from None
            while parts.pending:
                yield parts.pending.pop(0)
        parser.finalize()
        if not parts.file_seen:
            raise Problem(422, "Unprocessable content", f"the form has no `{file_field}` part; attach the audio")

    upload = await receive(file_bytes(), kind, directory, limits, filename=parts.filename)
    return upload, parts.fields
