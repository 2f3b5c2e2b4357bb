"""Errors that carry an HTTP status and a message written for the user.

One handler in the UI app turns them into JSON for the API and into an error page for the UI.
"""

from __future__ import annotations

__all__ = ["BadRequest", "NotFound", "SpyglassError"]


class SpyglassError(Exception):
    """An error with the HTTP status it maps to; ``message`` says what to do about it.

    >>> raise BadRequest("limit must be a positive integer", param="limit")
    Traceback (most recent call last):
    ...
    spyglass.errors.BadRequest: limit must be a positive integer
    """

    status = 500

    def __init__(self, message: str, *, param: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if status is not None:
            self.status = status


class BadRequest(SpyglassError):
    status = 400


class NotFound(SpyglassError):
    status = 404
