"""A page of a list, and what a client is told of it (docs/API.md §3): its `meta`, and its RFC
8288 `Link` header. A page by number knows where it stands among all the pages; a page after a
cursor knows only whether more follows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel

Item = TypeVar("Item")
Query = Iterable[tuple[str, str]]  # the request's query parameters, in order


class Meta(BaseModel):
    request_id: str


class PageMeta(Meta):
    """A page by number."""

    page: int
    per_page: int
    total: int
    pages: int
    next_cursor: str | None


class CursorMeta(Meta):
    """A page after a cursor: no page number, no total."""

    per_page: int
    next_cursor: str | None


@dataclass(frozen=True)
class Page(Generic[Item]):
    items: list[Item]
    page: int
    per_page: int
    total: int
    next_cursor: str | None

    @property
    def pages(self) -> int:
        return -(-self.total // self.per_page)

    def meta(self, request_id: str) -> PageMeta:
        return PageMeta(
            request_id=request_id,
            page=self.page,
            per_page=self.per_page,
            total=self.total,
            pages=self.pages,
            next_cursor=self.next_cursor,
        )

    def headers(self, path: str, query: Query) -> list[tuple[str, str]]:
        """`Link`: first, last, and where they exist prev and next, other parameters kept."""
        last = max(self.pages, 1)
        relations = {"first": 1, "last": last}
        if self.page > 1:
            relations["prev"] = min(self.page - 1, last)
        if self.page < last:
            relations["next"] = self.page + 1
        kept = urlencode([(key, value) for key, value in query if key != "page"])
        rest = f"&{kept}" if kept else ""
        links = (f'<{path}?page={number}{rest}>; rel="{rel}"' for rel, number in relations.items())
        return [("Link", ", ".join(links))]


@dataclass(frozen=True)
class CursorPage(Generic[Item]):
    items: list[Item]
    per_page: int
    next_cursor: str | None

    def meta(self, request_id: str) -> CursorMeta:
        return CursorMeta(
            request_id=request_id, per_page=self.per_page, next_cursor=self.next_cursor
        )

    def headers(self, path: str, query: Query) -> list[tuple[str, str]]:
        """`Link: next` when more follows (the cursor carries the rest of the query)."""
        if self.next_cursor is None:
            return []
        return [("Link", f'<{path}?cursor={quote(self.next_cursor, safe="")}>; rel="next"')]
