"""Shared pieces of the JSON API: id and text types that no database will choke on, pages, problems."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER


def _reject_control(value: str) -> str:
    for ch in value:
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in "\t\n\r") or category == "Cs":
            raise ValueError("contains control characters or invalid unicode")
    return value


SafeStr = Annotated[str, AfterValidator(_reject_control)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
AfterId = Annotated[int | None, Query(ge=0, le=MAX_ID, description="Return items after this id (paging).")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
SearchText = Annotated[SafeStr | None, Query(max_length=100, description="Text to search for.")]

T = TypeVar("T")


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: int | None = Field(None, description="Pass as `after` to get the next page; null at the end.")


def page_of(items: list[T], limit: int, key: Any = lambda item: item.id) -> Page[T]:
    return Page[T](items=items, next_after=key(items[-1]) if len(items) == limit else None)


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every API error is returned."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entry documenting the problem details a route may return."""
    return {
        status: {"model": ProblemDetails, "content": {"application/problem+json": {}}} for status in statuses
    }
