"""Receiving uploaded images and audio: streamed to disk under a server-made name, sniffed, limited and validated.

The rules (issue #6):

* Limits are checked while the body streams in: bytes as they arrive (413 the moment the limit is passed, never
  reading the rest), then pixels from the image header before anything is decoded, then seconds of audio while it
  is decoded. Every "too big" answer is 413 and names the limit and what to do.
* The type comes from the content's first bytes, never from the client's file name or Content-Type (415).
* Every stored file is named by the server (`<uuid4 hex><extension of the sniffed type>`) inside the directory the
  caller chose; the body is written to a hidden temp file beside it and renamed into place only once the content
  was fully decoded. On any failure, or if the request is cancelled, the temp file is removed.
* A client's file name is never a path: `display_name` keeps a sanitised last component for showing, nothing more.
* Audio is demuxed with the container format the sniffing found (never FFmpeg's probe), from a Python file object
  (never a URL), so a crafted file cannot turn into a playlist or reference other files.

Decisions:

* A WAV (or any file) whose header claims more data than it holds is accepted with the length actually decoded;
  `Upload.duration` is that real length, never the header's claim. What matters downstream is the sound that is
  there, and `talker.media.audio_decode` reads such files the same way.
* An ID3 tag is skipped to see what follows: FLAC and ADTS AAC behind a tag are stored as what they are,
  anything else is read as MP3.
* Images: JPEG, PNG and WebP only (GIF, BMP, TIFF, HEIC… are refused with 415 naming the accepted formats); only
  the first frame of an animated PNG/WebP is decoded. Decoding allocates at most `image_max_pixels` × 4 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import struct
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

from talker.server.problems import Problem, bad_request, too_large, unprocessable, unsupported

Kind = Literal["image", "audio"]

MB = 1_000_000
_FLUSH_BYTES = 1 << 20  # bytes held in memory before they are written out (in a worker thread)
_SNIFF_BYTES = 32  # enough for every signature below and for a WebP header's size fields
_DISPLAY_MAX = 100
_JPEG_MAX_SEGMENTS = 10_000
_IMAGE_FORMATS_HINT = "JPEG, PNG or WebP"
_AUDIO_FORMATS_HINT = "WAV, FLAC, MP3, OGG/Opus, M4A/AAC, WebM or AIFF"


@dataclass(frozen=True)
class UploadLimits:
    """How big an upload may be. Callers may tighten them per endpoint with `dataclasses.replace`."""

    image_max_bytes: int = 20 * MB
    image_max_pixels: int = 40_000_000  # a 50-megapixel photo is refused; a portrait needs a small fraction
    audio_max_bytes: int = 100 * MB
    audio_max_seconds: float = 600.0  # a video job's narration; a voice sample endpoint passes far less
    max_body_bytes: int = 110 * MB  # any request body, multipart framing included (checked from Content-Length)

    def max_bytes(self, kind: Kind) -> int:
        """The most bytes a file of this kind may have."""
        own = self.image_max_bytes if kind == "image" else self.audio_max_bytes
        return min(own, self.max_body_bytes)


@dataclass(frozen=True)
class Upload:
    """A received, validated file, stored in the caller's directory under a server-made name."""

    path: Path
    kind: Kind
    media_type: str
    extension: str
    size: int
    sha256: str
    display_name: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds actually decoded (not what a header claims)


@dataclass(frozen=True)
class _Format:
    kind: Kind
    label: str
    media_type: str
    extension: str
    decoder: str  # Pillow format name (images) or FFmpeg demuxer name (audio)


_JPEG = _Format("image", "JPEG", "image/jpeg", ".jpg", "JPEG")
_PNG = _Format("image", "PNG", "image/png", ".png", "PNG")
_WEBP = _Format("image", "WebP", "image/webp", ".webp", "WEBP")
_WAV = _Format("audio", "WAV", "audio/wav", ".wav", "wav")
_AIFF = _Format("audio", "AIFF", "audio/aiff", ".aiff", "aiff")
_FLAC = _Format("audio", "FLAC", "audio/flac", ".flac", "flac")
_OGG = _Format("audio", "OGG", "audio/ogg", ".ogg", "ogg")
_WEBM = _Format("audio", "WebM", "audio/webm", ".webm", "matroska")
_MP4 = _Format("audio", "M4A", "audio/mp4", ".m4a", "mov")
_MP3 = _Format("audio", "MP3", "audio/mpeg", ".mp3", "mp3")
_AAC = _Format("audio", "AAC", "audio/aac", ".aac", "aac")

_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


# ---------------------------------------------------------------------------------------------------------------
# Public interface


def display_name(raw: str | None) -> str:
    """A client's file name made safe to show: last path component, no control characters, at most 100 characters.

    It is only ever shown, never used to build a path.
    """
    if not raw:
        return "upload"
    text = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("C") or category in ("Zl", "Zp"):
            continue
        if category == "Zs":
            char = " "
        elif char in '"<>:*?|':
            char = "_"
        kept.append(char)
    text = " ".join("".join(kept).split()).strip(" .")
    if len(text) > _DISPLAY_MAX:
        stem, dot, suffix = text.rpartition(".")
        if dot and stem and 0 < len(suffix) <= 10:
            text = stem[: _DISPLAY_MAX - len(suffix) - 1].rstrip(" .") + "." + suffix
        else:
            text = text[:_DISPLAY_MAX].rstrip(" .")
    return text or "upload"


def check_declared_length(content_length: str | None, limits: UploadLimits, kind: Kind | None = None) -> None:
    """Refuse a body whose Content-Length already exceeds the limit (413) before a byte is read; 400 if malformed.

    Without `kind` the whole-body limit applies (for multipart bodies, whose framing adds a little).
    A missing header is fine: the streaming count in `receive` still applies.
    """
    if content_length is None:
        return
    value = content_length.strip()
    if not (value.isascii() and value.isdigit()):
        raise bad_request("the Content-Length header is not a whole number of bytes; send the file again")
    limit = limits.max_bytes(kind) if kind else limits.max_body_bytes
    if int(value) > limit:
        raise too_large(f"the request body is larger than {_mb(limit)}; send a smaller file")


async def receive(chunks: AsyncIterator[bytes], kind: Kind, directory: Path, limits: UploadLimits | None = None,
                  *, filename: str | None = None) -> Upload:
    """Stream an upload into `directory`, refuse it as soon as it breaks a rule, and return it once fully checked.

    `filename` is the client's name for the file; it only becomes `Upload.display_name`. Raises `Problem`
    (413 too large, 415 wrong type, 422 damaged or empty); the directory then holds nothing new.
    """
    receiver = _Receiver(kind, directory, limits or UploadLimits(), filename)
    try:
        async for chunk in chunks:
            receiver.take(chunk)
            if receiver.pending_bytes >= _FLUSH_BYTES:
                await asyncio.to_thread(receiver.write, receiver.take_pending())
        receiver.end()
        await asyncio.to_thread(receiver.write, receiver.take_pending())
        checked = await asyncio.to_thread(receiver.validate)
        return receiver.publish(checked)
    except BaseException:
        receiver.abort()
        await _close(chunks)
        raise


def store_bytes(data: bytes, kind: Kind, directory: Path, limits: UploadLimits | None = None,
                *, filename: str | None = None) -> Upload:
    """`receive` for a body already in memory; blocking, so call it from a worker thread in the server."""
    receiver = _Receiver(kind, directory, limits or UploadLimits(), filename)
    try:
        receiver.take(data)
        receiver.end()
        receiver.write(receiver.take_pending())
        return receiver.publish(receiver.validate())
    except BaseException:
        receiver.abort()
        raise


# ---------------------------------------------------------------------------------------------------------------
# Receiving


@dataclass(frozen=True)
class _Checked:
    format: _Format
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class _Receiver:
    """One upload in progress. `take` runs on the event loop (counting, sniffing); file work runs in threads."""

    def __init__(self, kind: Kind, directory: Path, limits: UploadLimits, filename: str | None) -> None:
        if kind not in ("image", "audio"):
            raise ValueError(f"unknown upload kind {kind!r}")
        self.kind: Kind = kind
        self.directory = directory
        self.limits = limits
        self.name = display_name(filename)
        self.max_bytes = limits.max_bytes(kind)
        self.size = 0
        self.head = b""
        self.format: _Format | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.digest = hashlib.sha256()
        self.temp: Path | None = None
        self.file: IO[bytes] | None = None
        self.closed = False
        self.lock = threading.Lock()  # a cancelled request must not close the file under a writing thread

    def take(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise self._too_many_bytes()
        if self.format is None:
            self.head += chunk[: _SNIFF_BYTES - len(self.head)]
            if len(self.head) >= _SNIFF_BYTES:
                self.format = _identify(self.head, self.kind)
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)

    def take_pending(self) -> list[bytes]:
        batch, self.pending, self.pending_bytes = self.pending, [], 0
        return batch

    def end(self) -> None:
        if self.size == 0:
            noun = "image" if self.kind == "image" else "audio file"
            raise unprocessable(f"the upload is empty (0 bytes); attach the {noun} and send it again")
        if self.format is None:
            self.format = _identify(self.head, self.kind)

    def write(self, batch: list[bytes]) -> None:
        if not batch:
            return
        with self.lock:
            if self.closed:
                return
            try:
                if self.file is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    handle, name = tempfile.mkstemp(prefix=".upload-", suffix=".partial", dir=self.directory)
                    self.temp = Path(name)
                    self.file = os.fdopen(handle, "wb")
                for piece in batch:
                    self.digest.update(piece)
                    self.file.write(piece)
            except OSError as error:
                raise _storage_problem(error) from None

    def validate(self) -> _Checked:
        assert self.format is not None and self.temp is not None
        with self.lock:
            if self.closed or self.file is None:
                raise RuntimeError("the upload was aborted")
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
            except OSError as error:
                raise _storage_problem(error) from None
        if self.format.kind == "image":
            width, height = _check_image(self.temp, self.format, self.limits)
            return _Checked(self.format, width=width, height=height)
        fmt = _behind_id3(self.temp) if self.format is _MP3 else self.format
        return _Checked(fmt, duration=_check_audio(self.temp, fmt, self.limits))

    def publish(self, checked: _Checked) -> Upload:
        assert self.temp is not None
        final = self.directory / f"{uuid.uuid4().hex}{checked.format.extension}"
        os.chmod(self.temp, 0o644)
        os.replace(self.temp, final)
        self.temp = None
        return Upload(path=final, kind=self.kind, media_type=checked.format.media_type,
                      extension=checked.format.extension, size=self.size, sha256=self.digest.hexdigest(),
                      display_name=self.name, width=checked.width, height=checked.height, duration=checked.duration)

    def abort(self) -> None:
        with self.lock:
            self.closed = True
            self.pending, self.pending_bytes = [], 0
            if self.file is not None:
                with contextlib.suppress(OSError):
                    self.file.close()
            if self.temp is not None:
                with contextlib.suppress(OSError):
                    self.temp.unlink(missing_ok=True)
                self.temp = None

    def _too_many_bytes(self) -> Problem:
        if self.kind == "image":
            return too_large(f"the image is larger than {_mb(self.max_bytes)}; send a smaller file "
                             "(a portrait needs far less: resize it or save it as JPEG)")
        return too_large(f"the audio file is larger than {_mb(self.max_bytes)}; send a shorter recording "
                         "or a compressed format such as MP3 or FLAC")


async def _close(chunks: AsyncIterator[bytes]) -> None:
    """Close an abandoned async generator now rather than whenever it is collected."""
    aclose: Any = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _storage_problem(error: OSError) -> Exception:
    if error.errno == errno.ENOSPC:
        return Problem(507, "Insufficient storage",
                       "the server has no room to store this file right now; try again later")
    return error


def _mb(count: int) -> str:
    return f"{count / MB:g} MB"


# ---------------------------------------------------------------------------------------------------------------
# Sniffing


def _sniff(head: bytes) -> _Format | None:
    """The accepted format the content's first bytes show, whatever the client called the file."""
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    tag, form = head[:4], head[8:12]
    if tag == b"RIFF" and form == b"WEBP":
        return _WEBP
    if tag in (b"RIFF", b"RF64", b"BW64") and form == b"WAVE":
        return _WAV
    if tag == b"FORM" and form in (b"AIFF", b"AIFC"):
        return _AIFF
    if head.startswith(b"fLaC"):
        return _FLAC
    if head.startswith(b"OggS"):
        return _OGG
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _WEBM
    if head[4:8] == b"ftyp":
        return None if head[8:12] in _IMAGE_BRANDS else _MP4
    if head.startswith(b"ID3"):
        return _MP3  # what follows the tag is looked at once the file is whole (`_behind_id3`)
    if _is_adts(head):
        return _AAC
    if _is_mpeg_audio(head):
        return _MP3
    return None


def _is_adts(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _is_mpeg_audio(head: bytes) -> bool:
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 0xF and rate != 3


def _refused_label(head: bytes) -> str | None:
    """A name for common content we do not take, so the answer can say what was sent."""
    if head.startswith(b"GIF8"):
        return "a GIF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIC/AVIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if head.lstrip().startswith(b"<"):
        return "text (HTML, XML or SVG)"
    return None


def _identify(head: bytes, kind: Kind) -> _Format:
    found = _sniff(head)
    if found is not None and found.kind == kind:
        return found
    if kind == "image":
        wanted, hint = "an image", f"send a photo as {_IMAGE_FORMATS_HINT}"
    else:
        wanted, hint = "audio", f"send audio as {_AUDIO_FORMATS_HINT} (WAV or MP3 work everywhere)"
    if found is not None:
        what = f"{found.label} audio" if found.kind == "audio" else f"a {found.label} image"
        raise unsupported(f"the file is {what}, not {wanted} (its content was checked, not its name); {hint}")
    label = _refused_label(head)
    if label is not None:
        raise unsupported(f"the file is {label}, which is not accepted here; {hint}")
    raise unsupported(f"the file's content is not {wanted} in a format accepted here (its name and declared type "
                      f"are not trusted); {hint}")


def _behind_id3(path: Path) -> _Format:
    """An ID3v2 tag may sit in front of FLAC or ADTS AAC as well as MP3: look past it."""
    with path.open("rb") as stream:
        header = stream.read(10)
        if len(header) < 10:
            return _MP3
        size = (header[6] & 0x7F) << 21 | (header[7] & 0x7F) << 14 | (header[8] & 0x7F) << 7 | (header[9] & 0x7F)
        stream.seek(10 + size + (10 if header[5] & 0x10 else 0))
        after = stream.read(4096).lstrip(b"\x00")
    if after.startswith(b"fLaC"):
        return _FLAC
    if _is_adts(after):
        return _AAC
    return _MP3


# ---------------------------------------------------------------------------------------------------------------
# Images


def _check_image(path: Path, fmt: _Format, limits: UploadLimits) -> tuple[int, int]:
    """Pixels from the header first (nothing is decoded for an oversized image), then a full decode."""
    from PIL import Image

    with path.open("rb") as stream:
        size = _header_size(stream, fmt)
    if size is None:
        raise _damaged_image(fmt)
    _check_pixels(size, fmt, limits)
    try:
        with Image.open(path, formats=[fmt.decoder]) as image:
            _check_pixels(image.size, fmt, limits)  # Pillow's reading of the header, in case it differs from ours
            image.verify()
        with Image.open(path, formats=[fmt.decoder]) as image:
            image.load()
            width, height = image.size
    except Image.DecompressionBombError:
        raise _too_many_pixels(size, limits) from None
    except _IMAGE_ERRORS:
        raise _damaged_image(fmt) from None
    return width, height


_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
                 struct.error)


def _check_pixels(size: tuple[int, int], fmt: _Format, limits: UploadLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise _damaged_image(fmt)
    if width * height > limits.image_max_pixels:
        raise _too_many_pixels(size, limits)


def _too_many_pixels(size: tuple[int, int], limits: UploadLimits) -> Problem:
    width, height = size
    return too_large(f"the image is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels), over the limit "
                     f"of {limits.image_max_pixels / 1e6:g} megapixels; scale it down (a portrait needs about "
                     "2000×2000) and send it again")


def _damaged_image(fmt: _Format) -> Problem:
    return unprocessable(f"the image is damaged or truncated (it starts like a {fmt.label} file but cannot be "
                         "decoded); export or download it again and send the whole file")


def _header_size(stream: BinaryIO, fmt: _Format) -> tuple[int, int] | None:
    """Width and height as the file's header states them, read without decoding anything."""
    if fmt is _JPEG:
        return _jpeg_size(stream)
    head = stream.read(30)
    if fmt is _PNG:
        if len(head) < 24 or head[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            return None
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(stream: BinaryIO) -> tuple[int, int] | None:
    """The largest frame header (SOFn) before the scan starts; a file may state several."""
    stream.seek(2)
    largest: tuple[int, int] | None = None
    for _ in range(_JPEG_MAX_SEGMENTS):
        byte = stream.read(1)
        if byte != b"\xff":
            return largest
        marker = 0xFF
        while marker == 0xFF:
            read = stream.read(1)
            if not read:
                return largest
            marker = read[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            continue  # markers without a length
        if marker in (0xD9, 0xDA):
            return largest
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return largest
        length = int.from_bytes(length_bytes, "big")
        if length < 2:
            return None
        if marker in _JPEG_FRAMES:
            if length < 8:
                return None
            frame = stream.read(5)
            if len(frame) < 5:
                return largest
            height, width = struct.unpack(">HH", frame[1:5])
            if largest is None or width * height > largest[0] * largest[1]:
                largest = (width, height)
            stream.seek(length - 7, os.SEEK_CUR)
        else:
            stream.seek(length - 2, os.SEEK_CUR)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Audio


def _check_audio(path: Path, fmt: _Format, limits: UploadLimits) -> float:
    """Decode the whole file with the sniffed demuxer, counting seconds; stop as soon as the limit is passed."""
    import av

    errors = (av.error.FFmpegError, ValueError, UnicodeDecodeError, IndexError)
    seconds = 0.0
    with path.open("rb") as stream:
        try:
            container = av.open(stream, mode="r", format=fmt.decoder)
        except errors:
            raise _damaged_audio(fmt) from None
        try:
            if not container.streams.audio:
                raise unprocessable("the file holds no audio track; send a recording with sound "
                                    f"({_AUDIO_FORMATS_HINT})")
            try:
                for frame in container.decode(container.streams.audio[0]):
                    if frame.sample_rate:
                        seconds += frame.samples / frame.sample_rate
                    if seconds > limits.audio_max_seconds:
                        raise too_large(f"the audio is longer than {limits.audio_max_seconds:g} s; trim it or "
                                        "split it into shorter parts and send them one by one")
            except av.error.EOFError:
                pass  # a header promising more than the file holds: the sound that is there counts
            except errors:
                raise _damaged_audio(fmt) from None
        finally:
            container.close()
    if seconds <= 0:
        raise unprocessable("the audio holds no sound (0 s once decoded); record or export it again and send "
                            "the whole file")
    return seconds


def _damaged_audio(fmt: _Format) -> Problem:
    return unprocessable(f"the audio cannot be decoded (it starts like a {fmt.label} file but is damaged or not "
                         "really one); export it again, for example as WAV or MP3, and send the whole file")
