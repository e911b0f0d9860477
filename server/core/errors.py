"""The one exception type of the core: a refused command, with a stable code.

Codes come from ``protocol.errors`` so the client sees exactly what the core
decided. A DomainError means *the caller asked for something not allowed*; a
bug in the server is any other exception."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r})"
