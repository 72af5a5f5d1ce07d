"""Case-insensitive text matching in SQL without LIKE: no wildcards to escape and no pattern-length limit
(SQLite refuses LIKE patterns over 50,000 bytes). Like LIKE, it folds the case of ASCII letters only."""
from __future__ import annotations

from sqlalchemy import func


def contains(column, text: str):
    return func.instr(func.lower(column), func.lower(text)) > 0


def starts_with(column, text: str):
    return func.substr(func.lower(column), 1, len(text)) == func.lower(text)
