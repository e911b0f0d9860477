"""Storage behind one small interface (``base.Store``): memory, SQLite, Redis."""

from server.store.base import DuplicateMessage, DuplicateRequest, Store, StoreError, StoreUnavailable, VersionConflict

__all__ = ["DuplicateMessage", "DuplicateRequest", "Store", "StoreError", "StoreUnavailable", "VersionConflict"]
