"""Idempotency keys: the name of an input's results and ledger entry, one per distinct (id, bytes).

``result_key(id, bytes_sha256)``:

* a *plain* id — one that is its own slug (1 to 80 of ``A-Za-z0-9._-``, not starting or ending with
  ``._-``) and does not itself end in ``.`` + 16 lower-case hex digits (``call-17``, ``R.2024.3``) —
  gives ``<id>.<first 16 hex digits of the bytes' sha256>``, the key earlier versions gave it (their
  ledger entries and results still match);
* any other id (``ward 3``, ``ward:3``, ``تماس-۱۷``, a 120-character id) gives
  ``<slug>.<first 16 hex digits of the sha256 of the exact id>.<bytes hash>``.

So a key is ``A.<bytes hash>`` where ``A`` ends in ``.<16 hex>`` exactly when the id is not plain: no
key of one kind equals a key of the other, plain ids map to keys one to one, and two ids that share a
slug (``ward 3`` and ``ward_3``; two long ids that share their first 80 characters) differ in the id
hash (64 bits; the ledger entry records the full hashes of both, see ``Store.in_ledger``).

A key is a file-name part of at most 80 + 1 + 16 + 1 + 16 = 114 bytes. Earlier versions keyed every
id as ``<slug>.<bytes hash>`` (``legacy_key``): distinct ids with one slug and the same bytes
collided (issue #12); the store still honours ledger entries written under such keys.
"""

from __future__ import annotations

import hashlib
import re

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_HASHED = re.compile(r"\.[0-9a-f]{16}\Z")  # the tail a non-plain id's key part ends with
SLUG_LIMIT = 80  # characters of an id kept in a key
HASH_DIGITS = 16  # hex digits of each hash in a key (64 bits)


def slug(doc_id: str, limit: int = SLUG_LIMIT) -> str:
    """A document id as a file-name part: runs of characters other than ``A-Za-z0-9._-`` become ``_``,
    leading/trailing ``._-`` are stripped, at most ``limit`` characters; ``input`` if nothing is left."""
    s = _SLUG.sub("_", doc_id).strip("._-")[:limit]
    return s or "input"


def id_sha256(doc_id: str) -> str:
    """sha256 (hex) of the exact id's UTF-8 bytes (``surrogatepass``: any ``str`` hashes)."""
    return hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()


def is_plain(doc_id: str) -> bool:
    """True if the id names its results unchanged: it is its own slug and does not end in ``.`` + 16
    lower-case hex digits (the tail of a hashed key part)."""
    return slug(doc_id) == doc_id and not _HASHED.search(doc_id)


def result_key(doc_id: str, bytes_sha256: str) -> str:
    """The idempotency key of an input (see the module docstring); ``bytes_sha256``: hex sha256 of the
    dropped bytes."""
    digest = bytes_sha256[:HASH_DIGITS]
    if is_plain(doc_id):
        return f"{doc_id}.{digest}"
    return f"{slug(doc_id)}.{id_sha256(doc_id)[:HASH_DIGITS]}.{digest}"


def legacy_key(doc_id: str, bytes_sha256: str) -> str:
    """The key versions before issue #12 gave an input: ``<slug(id)>.<bytes hash>`` (ambiguous)."""
    return f"{slug(doc_id)}.{bytes_sha256[:HASH_DIGITS]}"


def key_digest(key: str) -> str:
    """The bytes-hash part of a key (its last dot-separated part)."""
    return key.rsplit(".", 1)[-1]
