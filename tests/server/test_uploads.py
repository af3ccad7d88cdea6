"""Uploads: streamed with limits, sniffed by content, stored under server names, bad ones refused with a clear 4xx."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image, ImageFile

from talker.server.problems import Problem
from talker.server.uploads import (
    Upload,
    UploadLimits,
    check_declared_length,
    display_name,
    receive,
    store_bytes,
)

RATE = 16000
ACTIONS = ("send", "export", "convert", "trim", "scale", "attach", "record", "try")


# ---------------------------------------------------------------------------------------------------------------
# Making files


def _image(fmt: str, width: int = 96, height: int = 64, **options: object) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    time_axis = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * time_axis)).astype(np.float32)


def _soundfile(seconds: float, fmt: str, rate: int = RATE, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(seconds, rate), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _encoded(seconds: float, container: str, codec: str, rate: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(_tone(seconds, rate)[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_of_one_colour(width: int, height: int, rows: int | None = None) -> bytes:
    """A genuine RGB PNG streamed through zlib (a one-colour image compresses to almost nothing).

    With `rows` smaller than `height`, only that many rows are compressed: the header still states the full size,
    which is what a decompression bomb looks like from outside.
    """
    compressor = zlib.compressobj(1)
    row = b"\x00" + b"\x80" * (3 * width)
    data = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    data.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(data))
            + _png_chunk(b"IEND", b""))


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is edited to state another size."""
    data = bytearray(_image("JPEG"))
    start = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, start + 5, height, width)
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    """An extended-format WebP header stating a canvas size, followed by a small real image."""
    small = _image("WEBP")
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little") + small[12:]
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def _id3(payload: bytes) -> bytes:
    tag = b"TIT2" + struct.pack(">I", 6) + b"\x00\x00" + b"\x03hello"
    size = len(tag)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + tag + payload


# ---------------------------------------------------------------------------------------------------------------
# Feeding bodies


async def _chunks(data: bytes, sizes: tuple[int, ...] = (1, 5, 3, 4096, 65536)) -> AsyncIterator[bytes]:
    """The body in uneven pieces (single bytes first, so the sniffing has to wait for enough of them)."""
    position, index = 0, 0
    while position < len(data):
        size = sizes[min(index, len(sizes) - 1)]
        yield data[position:position + size]
        position += size
        index += 1


class _Endless:
    """A body of `total` bytes made lazily in 1 MB chunks, counting what was taken and whether it was closed."""

    def __init__(self, first: bytes, total: int = 1 << 30, chunk: int = 1 << 20) -> None:
        self.first, self.total, self.chunk = first, total, chunk
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        zeros = bytes(self.chunk)
        try:
            while self.sent < self.total:
                block = self.first + zeros[len(self.first):] if self.sent == 0 else zeros
                self.sent += len(block)
                yield block
        finally:
            self.closed = True


def _refused(error: pytest.ExceptionInfo[Problem], status: int, *words: str) -> Problem:
    problem = error.value
    assert problem.status == status and 400 <= problem.status < 500
    assert any(action in problem.detail for action in ACTIONS), problem.detail
    assert "/" not in problem.detail.replace("OGG/Opus", "").replace("M4A/AAC", "").replace("HEIC/AVIF", "")
    assert "Traceback" not in problem.detail and "Error" not in problem.detail
    for word in words:
        assert word in problem.detail, problem.detail
    return problem


@pytest.fixture
def uploads(tmp_path: Path) -> Iterator[Path]:
    """The data directory; afterwards nothing may exist outside it, and no temp file inside it."""
    directory = tmp_path / "data" / "uploads"
    yield directory
    outside = [path for path in tmp_path.rglob("*") if path.is_file() and directory not in path.parents]
    assert outside == []
    assert [path.name for path in directory.glob(".*")] == [] if directory.exists() else True


def _stored(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


def _check_stored(upload: Upload, directory: Path, data: bytes, extension: str) -> None:
    assert upload.path.parent == directory
    assert re.fullmatch(r"[0-9a-f]{32}" + re.escape(extension), upload.path.name)
    assert upload.extension == extension
    assert upload.path.read_bytes() == data
    assert upload.size == len(data)
    assert upload.sha256 == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Good files


@pytest.mark.parametrize(("fmt", "extension", "media_type"),
                         [("JPEG", ".jpg", "image/jpeg"), ("PNG", ".png", "image/png"),
                          ("WEBP", ".webp", "image/webp")])
async def test_good_images_are_stored_under_a_server_name(uploads: Path, fmt: str, extension: str,
                                                          media_type: str) -> None:
    data = _image(fmt)
    upload = await receive(_chunks(data), "image", uploads, filename="holiday photo.gif")
    _check_stored(upload, uploads, data, extension)
    assert (upload.kind, upload.media_type, upload.width, upload.height) == ("image", media_type, 96, 64)
    assert upload.display_name == "holiday photo.gif"
    assert _stored(uploads) == [upload.path]


@pytest.mark.parametrize("lossless", [True, False])
async def test_webp_sizes_are_read_from_both_kinds_of_header(uploads: Path, lossless: bool) -> None:
    upload = await receive(_chunks(_image("WEBP", 300, 17, lossless=lossless)), "image", uploads)
    assert (upload.width, upload.height) == (300, 17)


def _wav() -> bytes:
    return _soundfile(1.5, "WAV", subtype="PCM_16")


def _flac() -> bytes:
    return _soundfile(1.5, "FLAC")


def _mp3() -> bytes:
    return _encoded(1.5, "mp3", "libmp3lame", 44100)


def _opus() -> bytes:
    return _encoded(1.5, "ogg", "libopus", 48000)


def _m4a() -> bytes:
    return _encoded(1.5, "ipod", "aac", 44100)


def _webm() -> bytes:
    return _encoded(1.5, "webm", "libopus", 48000)


def _aiff() -> bytes:
    return _soundfile(1.5, "AIFF", subtype="PCM_16")


def _rf64() -> bytes:
    return _soundfile(1.5, "RF64", subtype="PCM_16")


@pytest.mark.parametrize(("make", "extension", "media_type"),
                         [(_wav, ".wav", "audio/wav"), (_flac, ".flac", "audio/flac"), (_mp3, ".mp3", "audio/mpeg"),
                          (_opus, ".ogg", "audio/ogg"), (_m4a, ".m4a", "audio/mp4"), (_webm, ".webm", "audio/webm"),
                          (_aiff, ".aiff", "audio/aiff"), (_rf64, ".wav", "audio/wav")])
async def test_good_audio_is_stored_with_its_length(uploads: Path, make: object, extension: str,
                                                    media_type: str) -> None:
    assert callable(make)
    data = make()
    upload = await receive(_chunks(data), "audio", uploads, filename="voice.bin")
    _check_stored(upload, uploads, data, extension)
    assert upload.kind == "audio" and upload.media_type == media_type
    assert upload.duration is not None and 1.45 <= upload.duration <= 1.6
    assert upload.width is None and upload.height is None
    assert _stored(uploads) == [upload.path]


async def test_flac_behind_an_id3_tag_is_stored_as_flac(uploads: Path) -> None:
    data = _id3(_flac())
    upload = await receive(_chunks(data), "audio", uploads)
    _check_stored(upload, uploads, data, ".flac")
    assert upload.duration is not None and abs(upload.duration - 1.5) < 0.01


def test_bytes_in_memory_take_the_same_path(uploads: Path) -> None:
    upload = store_bytes(_wav(), "audio", uploads, filename="a.wav")
    assert upload.duration is not None and abs(upload.duration - 1.5) < 0.01
    with pytest.raises(Problem) as error:
        store_bytes(b"not audio at all, just words", "audio", uploads)
    _refused(error, 415)
    assert _stored(uploads) == [upload.path]


# ---------------------------------------------------------------------------------------------------------------
# Wrong types: the content decides, never the name


async def test_text_named_jpg_is_refused_after_a_few_bytes(uploads: Path) -> None:
    body = _Endless(b"hello, this is certainly not a photograph\n")
    with pytest.raises(Problem) as error:
        await receive(body.__aiter__(), "image", uploads, filename="photo.jpg")
    _refused(error, 415, "JPEG, PNG or WebP", "not trusted")
    assert body.sent == 1 << 20 and body.closed  # the first chunk only
    assert _stored(uploads) == []


@pytest.mark.parametrize(("data", "label"), [(_image("GIF"), "GIF"), (_image("BMP"), "BMP"),
                                             (_image("TIFF"), "TIFF"), (b"%PDF-1.7\n" + bytes(100), "PDF"),
                                             (b"<?xml version='1.0'?><svg></svg>", "SVG"),
                                             (b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIC")])
async def test_other_image_formats_are_refused_by_name(uploads: Path, data: bytes, label: str) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(data), "image", uploads, filename="x.png")
    _refused(error, 415, label, "JPEG, PNG or WebP")
    assert _stored(uploads) == []


async def test_png_sent_as_audio_is_refused(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(_image("PNG")), "audio", uploads, filename="voice.wav")
    _refused(error, 415, "PNG image, not audio", "WAV")
    assert _stored(uploads) == []


async def test_audio_sent_as_image_is_refused(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(_wav()), "image", uploads, filename="face.jpg")
    _refused(error, 415, "WAV audio, not an image")
    assert _stored(uploads) == []


# ---------------------------------------------------------------------------------------------------------------
# Damaged content


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_truncated_image_is_unprocessable(uploads: Path, fmt: str) -> None:
    data = _image(fmt, 400, 300)
    with pytest.raises(Problem) as error:
        await receive(_chunks(data[: len(data) // 2]), "image", uploads)
    _refused(error, 422, "damaged or truncated")
    assert _stored(uploads) == []


async def test_image_cut_inside_its_header_is_unprocessable(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(b"\xff\xd8\xff"), "image", uploads)
    _refused(error, 422, "damaged")


async def test_damaged_audio_is_unprocessable(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(b"fLaC" + bytes(range(256)) * 40), "audio", uploads)
    _refused(error, 422, "FLAC")
    assert _stored(uploads) == []


# ---------------------------------------------------------------------------------------------------------------
# Too large: bytes while streaming, pixels from the header, seconds while decoding


@pytest.fixture(scope="module")
def fifty_megapixels() -> bytes:
    return _png_of_one_colour(8000, 6250)


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import WebPImagePlugin

    def refuse(self: object) -> None:
        raise AssertionError("an oversized image was decoded")

    for cls in (Image.Image, ImageFile.ImageFile, WebPImagePlugin.WebPImageFile):
        monkeypatch.setattr(cls, "load", refuse)


async def test_50_megapixel_png_is_refused_before_decoding(uploads: Path, fifty_megapixels: bytes,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_decoding(monkeypatch)
    assert len(fifty_megapixels) < 2 * 1024 * 1024  # small on the wire; 150 MB once decoded
    started = time.perf_counter()
    with pytest.raises(Problem) as error:
        await receive(_chunks(fifty_megapixels), "image", uploads)
    assert time.perf_counter() - started < 1.0
    _refused(error, 413, "8000×6250", "50.0 megapixels", "40 megapixels", "scale it down")
    assert _stored(uploads) == []


@pytest.mark.parametrize("make", [_jpeg_claiming, _webp_claiming])
async def test_50_megapixel_jpeg_and_webp_headers_are_refused(uploads: Path, make: object,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert callable(make)
    data = make(8000, 6250)
    _forbid_decoding(monkeypatch)
    with pytest.raises(Problem) as error:
        await receive(_chunks(data), "image", uploads)
    _refused(error, 413, "8000×6250")
    assert _stored(uploads) == []


async def test_zip_bomb_png_is_refused_from_its_header(uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _png_of_one_colour(100_000, 100_000, rows=50)  # 10 gigapixels stated, tens of kB sent
    _forbid_decoding(monkeypatch)
    assert len(bomb) < 100_000  # would decode to 30 GB
    started = time.perf_counter()
    with pytest.raises(Problem) as error:
        await receive(_chunks(bomb), "image", uploads)
    assert time.perf_counter() - started < 0.5
    _refused(error, 413, "100000×100000")
    assert _stored(uploads) == []


async def test_smaller_pixel_limit_is_respected(uploads: Path) -> None:
    limits = replace(UploadLimits(), image_max_pixels=96 * 64 - 1)
    with pytest.raises(Problem) as error:
        await receive(_chunks(_image("PNG")), "image", uploads, limits)
    _refused(error, 413, "96×64")


async def test_one_gigabyte_body_is_cut_off_at_the_limit(uploads: Path) -> None:
    limits = UploadLimits()
    body = _Endless(b"\x89PNG\r\n\x1a\n")  # looks like an image, then never ends
    started = time.perf_counter()
    with pytest.raises(Problem) as error:
        await receive(body.__aiter__(), "image", uploads, limits)
    _refused(error, 413, "20 MB")
    assert limits.image_max_bytes < body.sent <= limits.image_max_bytes + body.chunk
    assert body.closed
    assert time.perf_counter() - started < 5
    assert _stored(uploads) == []


async def test_audio_over_its_byte_limit_is_refused(uploads: Path) -> None:
    limits = replace(UploadLimits(), audio_max_bytes=10_000)
    with pytest.raises(Problem) as error:
        await receive(_chunks(_wav()), "audio", uploads, limits)
    _refused(error, 413, "0.01 MB", "MP3 or FLAC")
    assert _stored(uploads) == []


def test_declared_length_is_checked_before_reading() -> None:
    limits = UploadLimits()
    check_declared_length(None, limits)
    check_declared_length("1000", limits, "image")
    with pytest.raises(Problem) as error:
        check_declared_length(str(1 << 30), limits)
    _refused(error, 413, "110 MB")
    with pytest.raises(Problem) as error:
        check_declared_length(str(21 * 1000 * 1000), limits, "image")
    _refused(error, 413, "20 MB")
    with pytest.raises(Problem) as error:
        check_declared_length("-5", limits)
    _refused(error, 400)


async def test_audio_longer_than_the_limit_is_refused(uploads: Path) -> None:
    limits = replace(UploadLimits(), audio_max_seconds=2)
    with pytest.raises(Problem) as error:
        await receive(_chunks(_soundfile(3.0, "FLAC")), "audio", uploads, limits)
    _refused(error, 413, "longer than 2 s", "trim")
    assert _stored(uploads) == []


# ---------------------------------------------------------------------------------------------------------------
# Empty and lying audio


async def test_empty_body_is_unprocessable(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(b""), "audio", uploads)
    _refused(error, 422, "empty (0 bytes)")
    assert _stored(uploads) == []


async def test_wav_with_no_samples_is_unprocessable(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(_soundfile(0.0, "WAV")), "audio", uploads)
    _refused(error, 422, "0 s")
    assert _stored(uploads) == []


async def test_wav_cut_inside_its_header_is_unprocessable(uploads: Path) -> None:
    with pytest.raises(Problem) as error:
        await receive(_chunks(_wav()[:30]), "audio", uploads)
    _refused(error, 422, "WAV")
    assert _stored(uploads) == []


async def test_wav_header_claiming_more_than_it_holds_is_accepted_with_the_real_length(uploads: Path) -> None:
    full = _soundfile(2.0, "WAV", subtype="PCM_16")
    cut = full[: 44 + RATE * 2]  # the header still says 2 s; one second of samples follows
    upload = await receive(_chunks(cut), "audio", uploads)
    assert upload.duration is not None and abs(upload.duration - 1.0) < 0.01
    assert upload.path.read_bytes() == cut


async def test_wav_header_with_an_unknown_length_is_accepted_with_the_real_length(uploads: Path) -> None:
    data = bytearray(_soundfile(1.0, "WAV", subtype="PCM_16"))
    struct.pack_into("<I", data, 4, 0xFFFFFFFF)  # as streaming recorders write it
    struct.pack_into("<I", data, data.index(b"data") + 4, 0xFFFFFFFF)
    upload = await receive(_chunks(bytes(data)), "audio", uploads)
    assert upload.duration is not None and abs(upload.duration - 1.0) < 0.01


# ---------------------------------------------------------------------------------------------------------------
# Names and the file system


@pytest.mark.parametrize(("raw", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\system.ini", "system.ini"),
    ("/etc/", "upload"),
    ("..", "upload"),
    (None, "upload"),
    ("", "upload"),
    ("voice\x00\r\n\u202e.wav", "voice.wav"),
    ('my "best" take?.wav', "my _best_ take_.wav"),
    ("  spaced\u00a0 out .mp3 ", "spaced out .mp3"),
    ("a" * 300 + ".jpeg", "a" * 95 + ".jpeg"),
    ("照片.jpg", "照片.jpg"),
])
def test_display_name_is_safe_to_show(raw: str | None, shown: str) -> None:
    assert display_name(raw) == shown
    assert len(display_name(raw)) <= 100


async def test_path_like_client_names_never_touch_the_file_system(uploads: Path, tmp_path: Path) -> None:
    for name in ("../../etc/passwd", "/tmp/evil.png", "..", "../uploads/.hidden.png"):
        upload = await receive(_chunks(_image("PNG")), "image", uploads, filename=name)
        assert upload.path.parent == uploads and name not in str(upload.path)
        assert upload.display_name in ("passwd", "evil.png", "upload", "hidden.png")
    assert len(_stored(uploads)) == 4
    assert [path.name for path in _stored(tmp_path)] == ["data"]


async def test_a_client_that_breaks_off_leaves_nothing(uploads: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield _wav()[:100]
        yield bytes(3 << 20)  # enough to be written to the temp file
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await receive(broken(), "audio", uploads)
    assert _stored(uploads) == []


async def test_a_cancelled_upload_leaves_nothing(uploads: Path) -> None:
    reached = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield _image("PNG")
        yield bytes(2 << 20)
        reached.set()
        await asyncio.sleep(3600)
        yield b""

    task = asyncio.create_task(receive(stalled(), "image", uploads))
    await reached.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _stored(uploads) == []


async def test_the_server_keeps_serving_after_bad_uploads(uploads: Path) -> None:
    bad = [_image("JPEG")[:500], b"hello", _png_of_one_colour(100_000, 100_000, rows=5), b""]
    for data in bad:
        with pytest.raises(Problem):
            await receive(_chunks(data), "image", uploads)
    good = await asyncio.gather(*(receive(_chunks(_image(fmt)), "image", uploads) for fmt in ("JPEG", "PNG", "WEBP")),
                                receive(_chunks(_wav()), "audio", uploads))
    assert len({upload.path for upload in good}) == 4
    assert _stored(uploads) == sorted(upload.path for upload in good)
