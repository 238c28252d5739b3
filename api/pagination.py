"""Cursor pagination: `?cursor=` from the previous page's `next`, `?page_size=` up to 200."""

import base64

from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class IdCursorPagination(pagination.CursorPagination):
    """Rows of the database, newest first, by a cursor on their id (stable while rows are added)."""

    ordering = "-id"
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": [_("This cursor is not valid.")]}) from None


class ListCursorPagination(pagination.BasePagination):
    """A list the selectors compute (people, competencies), in their order, by an opaque cursor of its position."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def _position(self, request) -> int:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return 0
        try:
            text = base64.urlsafe_b64decode(raw.encode("ascii") + b"==").decode("ascii")
            position = int(text.removeprefix("p="))
            if not text.startswith("p=") or position < 0:
                raise ValueError
        except (ValueError, UnicodeError):
            raise exceptions.ValidationError({"cursor": [_("This cursor is not valid.")]}) from None
        return position

    def _size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        try:
            return min(max(int(raw), 1), MAX_PAGE_SIZE) if raw is not None else PAGE_SIZE
        except ValueError:
            return PAGE_SIZE

    def _link(self, position: int | None):
        if position is None:
            return None
        url = self.request.build_absolute_uri()
        if position == 0:
            return remove_query_param(url, self.cursor_query_param)
        cursor = base64.urlsafe_b64encode(f"p={position}".encode()).decode().rstrip("=")
        return replace_query_param(url, self.cursor_query_param, cursor)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        start, size = self._position(request), self._size(request)
        rows = list(queryset)
        self.next_position = start + size if start + size < len(rows) else None
        self.previous_position = max(start - size, 0) if start > 0 else None
        return rows[start:start + size]

    def get_paginated_response(self, data):
        return Response({"next": self._link(self.next_position), "previous": self._link(self.previous_position),
                         "results": data})

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {"type": "object", "required": ["results"],
                "properties": {"next": link, "previous": link, "results": schema}}

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "The pagination cursor value.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": "Number of results per page (at most 200).", "schema": {"type": "integer"}},
        ]
