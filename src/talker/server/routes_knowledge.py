"""The knowledge base over HTTP: add documents (the body is the file), list, delete, search; FAQ answers."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from talker.server.deps import Owner, State
from talker.server.problems import Problem, not_found, too_large, unprocessable, unsupported
from talker.server.routes_chat import _mind
from talker.server.services import owner_dir

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
MAX_DOCUMENT_BYTES = 20 * 2**20
_SNIFF = 8192


class DocumentOut(BaseModel):
    id: int
    title: str
    kind: str
    chunks: int


class HitOut(BaseModel):
    title: str
    heading: str
    text: str
    score: float


class FaqIn(BaseModel):
    question: str = Field(min_length=1, max_length=500, examples=["周六营业吗？"],
                          description="the question; several phrasings may be separated by new lines")
    answer: str = Field(min_length=1, max_length=4000, examples=["周六上午九点到下午五点营业。"])


class FaqOut(BaseModel):
    id: int
    questions: list[str]
    answer: str


@router.post("/documents", status_code=201, response_model=DocumentOut, summary="Add a document",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def add_document(request: Request, state: State, owner: Owner,
                       title: Annotated[str | None, Query(max_length=200)] = None,
                       name: Annotated[str | None, Query(max_length=200, description="file name to cite")] = None,
                       ) -> DocumentOut:
    """The request body is the file: PDF, Word (.docx), HTML, Markdown or plain UTF-8 text (sniffed, not
    taken from a name). `title` names it (default: its first heading or line); `name` is what answers cite."""
    directory = owner_dir(state.settings, owner) / "incoming"
    path = await _receive_document(request, directory)
    mind = _mind(state, owner)
    try:
        def ingest() -> Any:
            from talker.dialogue.ingest import read_document

            with mind.lock:
                document = read_document(path)
                info = mind.knowledge.add_text(title or document.title, document.text,
                                               source=display_name(name) if name else "upload")
                mind.knowledge.index_vectors()
                return info

        info = await anyio.to_thread.run_sync(ingest)
    finally:
        path.unlink(missing_ok=True)
    return DocumentOut(id=info.id, title=info.title, kind=info.kind, chunks=info.chunks)


@router.get("/documents", response_model=list[DocumentOut], summary="Your documents")
def list_documents(state: State, owner: Owner) -> list[DocumentOut]:
    return [DocumentOut(id=d.id, title=d.title, kind=d.kind, chunks=d.chunks)
            for d in _mind(state, owner).knowledge.list()]


@router.delete("/documents/{document_id}", status_code=204, summary="Remove a document")
def delete_document(state: State, owner: Owner, document_id: int) -> Response:
    mind = _mind(state, owner)
    if not any(d.id == document_id for d in mind.knowledge.list()):
        raise not_found(f"document {document_id}")
    with mind.lock:
        mind.knowledge.remove(document_id)
    return Response(status_code=204)


@router.get("/search", response_model=list[HitOut], summary="Search your documents")
def search(state: State, owner: Owner, q: Annotated[str, Query(min_length=1, max_length=500)],
           k: Annotated[int, Query(ge=1, le=20)] = 4) -> list[HitOut]:
    hits = _mind(state, owner).knowledge.search(q, k=k)
    return [HitOut(title=h.title, heading=h.heading, text=h.text, score=round(h.score, 4)) for h in hits]


@router.post("/faq", status_code=201, response_model=FaqOut, summary="Add an exact answer")
def add_faq(state: State, owner: Owner, faq: Annotated[FaqIn, Body()]) -> FaqOut:
    mind = _mind(state, owner)
    phrasings = [line.strip() for line in faq.question.splitlines() if line.strip()]
    if not phrasings:
        raise unprocessable("the question is empty; give at least one phrasing")
    with mind.lock:
        for phrasing in phrasings:  # the same answer stored again gains each line as another phrasing
            entry = mind.knowledge.add_faq(phrasing, faq.answer, source="api")
    return FaqOut(id=entry.id, questions=list(entry.questions), answer=entry.answer)


@router.get("/faq", response_model=list[FaqOut], summary="Your exact answers")
def list_faq(state: State, owner: Owner) -> list[FaqOut]:
    return [FaqOut(id=f.id, questions=list(f.questions), answer=f.answer)
            for f in _mind(state, owner).knowledge.faqs()]


@router.delete("/faq/{faq_id}", status_code=204, summary="Remove an exact answer")
def delete_faq(state: State, owner: Owner, faq_id: int) -> Response:
    mind = _mind(state, owner)
    if not any(f.id == faq_id for f in mind.knowledge.faqs()):
        raise not_found(f"FAQ answer {faq_id}")
    with mind.lock:
        mind.knowledge.remove_faq(faq_id)
    return Response(status_code=204)


async def _receive_document(request: Request, directory: Path) -> Path:
    """Stream the body into a server-named file, within the size limit, named by its sniffed kind."""
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    partial = directory / f".{uuid.uuid4().hex}.partial"
    size = 0
    head = b""
    try:
        async with await anyio.open_file(partial, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_DOCUMENT_BYTES:
                    raise too_large(f"documents are limited to {MAX_DOCUMENT_BYTES >> 20} MB; split it")
                if len(head) < _SNIFF:
                    head += chunk[:_SNIFF - len(head)]
                await out.write(chunk)
        if size == 0:
            raise Problem(422, "Unprocessable content", "the request body is empty; send the document as the body")
        extension = _kind(head, partial, request.headers.get("content-type", ""))
        final = directory / f"{uuid.uuid4().hex}{extension}"
        partial.rename(final)
        return final
    finally:
        partial.unlink(missing_ok=True)


def display_name(raw: str) -> str:
    """A client's file name reduced to something safe to show: no folders, no control characters."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip(" .")
    return cleaned[:120] or "upload"


def _kind(head: bytes, path: Path, content_type: str) -> str:
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                if "word/document.xml" in archive.namelist():
                    return ".docx"
        except zipfile.BadZipFile:
            pass
        raise unsupported("this zip archive is not a Word (.docx) document; send PDF, DOCX, HTML, Markdown or text")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the sniffing boundary
            raise unsupported("the document is neither PDF, DOCX nor UTF-8 text (HTML, Markdown, plain)") from None
        text = head[:error.start].decode("utf-8")
    if "\x00" in text:
        raise unsupported("the document is binary, not text; send PDF, DOCX, HTML, Markdown or text")
    stripped = text.lstrip().lower()
    if stripped.startswith(("<!doctype html", "<html")) or "html" in content_type:
        return ".html"
    return ".md" if "markdown" in content_type or stripped.startswith("#") else ".txt"
