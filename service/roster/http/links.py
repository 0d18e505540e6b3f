"""Page arithmetic and the RFC 8288 `Link` header."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from werkzeug.datastructures import MultiDict


def page_count(total: int, per_page: int) -> int:
    return -(-total // per_page)


def link_header(path: str, args: MultiDict[str, str], page: int, pages: int) -> str:
    """first, last, and where they exist prev and next; other query parameters are kept."""
    last = max(pages, 1)
    relations = {"first": 1, "last": last}
    if page > 1:
        relations["prev"] = min(page - 1, last)
    if page < last:
        relations["next"] = page + 1
    kept = urlencode([(key, value) for key, value in args.items(multi=True) if key != "page"])
    rest = f"&{kept}" if kept else ""
    return ", ".join(
        f'<{path}?page={number}{rest}>; rel="{rel}"' for rel, number in relations.items()
    )


def cursor_link(path: str, next_cursor: str) -> str:
    return f'<{path}?cursor={quote(next_cursor, safe="")}>; rel="next"'
