"""Errors of the catalog stage."""

from __future__ import annotations


class CatalogError(ValueError):
    """The catalog file itself is unusable, or (with ``strict=True``) some of its rows are bad.

    Row-level problems are not errors by default: they become
    :class:`~shopsearch.types.Reject` records and every good row is still loaded.
    """
