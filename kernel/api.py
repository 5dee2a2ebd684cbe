"""What every router of the JSON API shares: the page, the error answer, and
how an endpoint hands the schemas what they read.

The contract these implement is described in docs/operations.md ("API"):

* a list is a page ``{"items", "count", "limit", "offset", "next_offset"}``
  (``LimitOffsetPage``, applied with ``ninja.pagination.paginate``); a list that
  can grow to millions of rows pages by cursor too (``KeysetPage``): it adds
  ``"next_cursor"``, and ``?cursor=`` pages on from there at the cost of page 1
  (``kernel.keyset``), where a deep ``offset`` costs as many rows as it skips;
* an error is ``{"detail": ...}`` (``ErrorOut``), produced by the API's one
  exception handler (``govdash.api``) from the domain errors of ``kernel.errors``
  and Django's ``Http404``, ``PermissionDenied`` and ``ValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PaginationBase
from pydantic import BeforeValidator

from kernel.http import MAX_ROWS_PER_PAGE
from kernel.keyset import MAX_CURSOR_LENGTH, BadCursor, Keyset

DEFAULT_LIMIT = 100
MAX_LIMIT = MAX_ROWS_PER_PAGE
# Offsets are bigints in the database (PostgreSQL and SQLite alike): a larger one
# is refused (422) rather than overflowing the query (a 500). Any offset past the
# last row answers an empty page.
MAX_OFFSET = 2**63 - 1 - MAX_LIMIT

T = TypeVar("T")


# --------------------------------------------------------------------------- errors


class ErrorOut(Schema):
    detail: str | dict[str, Any] | list[Any] = Field(
        description="What went wrong, in one line; for 422, the invalid parameters "
        "(by field for filter values, as a list for malformed parameters)."
    )


class AnswerWith(Exception):
    """An error whose answer carries fields besides ``detail`` (e.g. the sync
    already running, with a 409): the status and ``detail`` are ``error``'s,
    ``fields`` are merged into the body as they are (schemas or plain values)."""

    def __init__(self, error: Exception, **fields: Any) -> None:
        super().__init__(str(error))
        self.error = error
        self.fields = fields


def require_valid(form: forms.BaseForm) -> None:
    """Raise the form's (or FilterSet's form's) errors as a ValidationError (422, by field)."""
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())


# --------------------------------------------------------------------------- pages


class PageQuery(Schema):
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Rows per page, at most {MAX_LIMIT}."
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description=f"Rows to skip, at most {MAX_OFFSET}.")


class Page(Schema):
    count: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="The next page's offset; null on the last page.")
    items: list[Any]


class LimitOffsetPage(PaginationBase):
    """Pages of at most ``MAX_LIMIT`` rows (``DEFAULT_LIMIT`` unless asked) from
    ``offset``. ninja answers ``Paged<Item>``, a ``Page`` of the endpoint's items."""

    # Named classes, not nested ones, so the OpenAPI schema names them.
    Input = PageQuery  # type: ignore[assignment]
    Output = Page  # type: ignore[assignment]

    def paginate_queryset(
        self,
        queryset: QuerySet[Any],
        pagination: PageQuery,
        request: HttpRequest,
        **params: Any,
    ) -> dict[str, Any]:
        limit = min(pagination.limit, MAX_LIMIT)
        offset = pagination.offset
        count = self._items_count(queryset)
        following = offset + limit
        return {
            "count": count,
            "limit": limit,
            "offset": offset,
            "next_offset": following if following < count else None,
            "items": queryset[offset:following],
        }


# --------------------------------------------------------------------------- schemas


def _texts_by_key(value: Mapping[Any, Any] | None) -> dict[str, str]:
    return {str(key): str(item) for key, item in (value or {}).items()}


def _texts(value: list[Any] | None) -> list[str]:
    return [str(item) for item in value or []]


# A JSON column of strings by key (tags, params) or a list of strings (aliases):
# whatever was stored, answered as text.
TextMap = Annotated[dict[str, str], BeforeValidator(_texts_by_key)]
TextList = Annotated[list[str], BeforeValidator(_texts)]


def attach(obj: T, **reads: Any) -> T:
    """Hand the schema what the endpoint read besides ``obj`` (like a prefetch's
    ``to_attr``): each value becomes an attribute of ``obj``, read by the field of
    that name (or alias)."""
    for name, value in reads.items():
        setattr(obj, name, value)
    return obj


class KeysetPageQuery(PageQuery):
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="The previous page's next_cursor: the page after it, whatever was "
        "added meanwhile (offset must then be 0).",
    )


class KeysetPageOut(Page):
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null on the last page."
    )


class KeysetPage(PaginationBase):
    """``LimitOffsetPage`` plus a cursor (``kernel.keyset``): ``@paginate(KeysetPage,
    keyset=Keyset(Model, fields))``. With a cursor, the page is the ``limit`` rows
    after the row it names (``offset`` must be 0; ``next_offset`` is null), so a page
    deep in a million rows costs what page 1 does. A cursor this list did not hand
    out is a 422, never a 500."""

    Input = KeysetPageQuery  # type: ignore[assignment]
    Output = KeysetPageOut  # type: ignore[assignment]

    def __init__(self, *, keyset: Keyset, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keyset = keyset

    def paginate_queryset(
        self,
        queryset: QuerySet[Any],
        pagination: KeysetPageQuery,
        request: HttpRequest,
        **params: Any,
    ) -> dict[str, Any]:
        limit = min(pagination.limit, MAX_LIMIT)
        offset = pagination.offset
        count = self._items_count(queryset)
        if pagination.cursor is not None:
            if offset:
                raise ValidationError({"offset": "offset must be 0 when a cursor is given."})
            try:
                rows = self.keyset.after(queryset, pagination.cursor)
            except BadCursor as exc:
                raise ValidationError({"cursor": str(exc)}) from None
            items = list(rows[: limit + 1])
            following = None
        else:
            items = list(self.keyset.order(queryset)[offset : offset + limit + 1])
            following = offset + limit if len(items) > limit else None
        more = len(items) > limit
        items = items[:limit]
        return {
            "count": count,
            "limit": limit,
            "offset": offset,
            "next_offset": following,
            "next_cursor": self.keyset.cursor(items[-1]) if more and items else None,
            "items": items,
        }
