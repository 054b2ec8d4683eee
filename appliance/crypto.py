"""age encryption (X25519 recipients) via pyrage: the standard ``age`` CLI decrypts what this writes.

The box holds only public keys (recipients). Identities (secret keys) are generated with
``appliance keygen`` on the reading side, or anywhere, and are meant to live off the box.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pyrage
from pyrage import x25519

from .errors import ApplianceError, ConfigError

SECRET_PREFIX = "AGE-SECRET-KEY-"
AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"


class CryptoError(ApplianceError):
    """A key is malformed, or data cannot be encrypted or decrypted."""


def parse_recipient(text: str, origin: str = "recipient") -> x25519.Recipient:
    """One age X25519 public key (``age1`` + 58 bech32 characters), surrounding whitespace ignored.

    ``origin`` names where the key came from (``file:line``, ``recipients.keys[i]``) in the error.
    Raises ConfigError for a secret key (``AGE-SECRET-KEY-``: it must not be on the box) or anything
    pyrage does not parse as a recipient; the message never contains the key's text.
    """
    key = text.strip()
    if key.startswith(SECRET_PREFIX):
        raise ConfigError(
            f"{origin}: this is an age identity (secret key), not a public key; it must not be on this box. "
            "Give its public key ('age1...'; `age-keygen -y FILE` prints it)"
        )
    try:
        return x25519.Recipient.from_str(key)
    except pyrage.RecipientError:
        raise ConfigError(
            f"{origin}: not an age X25519 public key (expected 'age1' followed by 58 characters)"
        ) from None


def _key_lines(path: Path, what: str, error: type[Exception]) -> list[tuple[int, str]]:
    """(line number, text) of a key file's keys: blank lines and ``#`` comments skipped, as age does.

    The file is UTF-8; a leading UTF-8 byte-order mark (as Windows Notepad saves) is dropped. A UTF-16 or
    UTF-32 file is refused with a message that says so. Errors name the file and the kind of failure,
    never a line's content (it may be a secret key)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except OSError as e:
        raise error(f"{what} file {path} cannot be read: {e.__class__.__name__}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):  # UTF-16/32 byte-order marks
        raise error(f"{what} file {path} is saved as UTF-16 or UTF-32: save it as UTF-8")
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise error(f"{what} file {path} is not valid UTF-8 (byte {e.start}): save it as UTF-8") from None
    return [(no, line.strip()) for no, line in enumerate(lines, 1)
            if line.strip() and not line.strip().startswith("#")]


def read_recipients_file(path: Path) -> list[tuple[str, x25519.Recipient]]:
    """(key text, recipient) per key line of an age recipients file, in file order.

    Blank lines and ``#`` comments are skipped, as ``age -R`` does. Raises ConfigError when the file is
    missing or unreadable, or a line is not a public key (named ``path:line``).
    """
    keys = _key_lines(path, "recipients", ConfigError)
    return [(line, parse_recipient(line, f"{path}:{no}")) for no, line in keys]


def load_recipients(keys: Iterable[str], files: Iterable[Path]) -> list[x25519.Recipient]:
    """All recipients from inline keys and then files, de-duplicated by key text, first seen first.

    Raises ConfigError for a bad key (see :func:`parse_recipient`) or when the set is empty: results are
    written only encrypted, so at least one recipient is required.
    """
    seen: dict[str, x25519.Recipient] = {}
    for i, key in enumerate(keys):
        seen.setdefault(key.strip(), parse_recipient(key, f"recipients.keys[{i}]"))
    for f in files:
        for text, rec in read_recipients_file(Path(f)):
            seen.setdefault(text, rec)
    if not seen:
        raise ConfigError(
            "no recipients configured: results are written only encrypted, so at least one age public key is "
            "needed (set recipients.keys or recipients.files; create a key pair with `appliance keygen` "
            "on the machine that will read the results)"
        )
    return list(seen.values())


def encrypt(data: bytes, recipients: Sequence[x25519.Recipient]) -> bytes:
    """``data`` as a binary (not armored) age v1 file any of ``recipients`` can decrypt.

    Raises CryptoError when ``recipients`` is empty or pyrage refuses to encrypt.
    """
    if not recipients:
        raise CryptoError("refusing to encrypt to no recipients")
    try:
        return pyrage.encrypt(data, list(recipients))
    except pyrage.EncryptError as e:  # pragma: no cover - pyrage raises only on bad recipients
        raise CryptoError(f"encryption failed: {e.__class__.__name__}") from None


# --------------------------------------------------------------------------------------------- identities


def generate_identity() -> tuple[str, str]:
    """A new X25519 identity: (secret ``AGE-SECRET-KEY-1...``, public ``age1...``)."""
    ident = x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def identity_file_text(secret: str, public: str) -> str:
    """The file format ``age-keygen`` writes (``age -i`` reads it)."""
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return f"# created: {created}\n# public key: {public}\n{secret}\n"


def write_identity_file(path: Path, text: str, *, force: bool = False) -> None:
    """Create ``path`` with mode 0600 (never readable by others, even briefly), write ``text`` and fsync.

    With ``force`` an existing file is truncated and rewritten, its mode forced to 0600; without it,
    CryptoError when ``path`` exists. OSError for other failures to create or write.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CryptoError(
            f"{path} exists; refusing to overwrite an identity (use --force to replace it)"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if fd >= 0:
            os.close(fd)


def load_identities(path: Path) -> list[x25519.Identity]:
    """The X25519 identities (``AGE-SECRET-KEY-1...`` lines) of an age identity file, in file order.

    Blank lines and ``#`` comments are skipped. Raises CryptoError when the file is missing or
    unreadable, a line is not an identity (named ``path:line``, never its content), or none is found.
    """
    out = []
    for no, line in _key_lines(path, "identity", CryptoError):
        try:
            out.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise CryptoError(f"{path}:{no}: not an age X25519 identity (AGE-SECRET-KEY-1...)") from None
    if not out:
        raise CryptoError(f"{path}: no identity in the file")
    return out


def public_of(identity: x25519.Identity) -> str:
    """The ``age1...`` public key of ``identity``."""
    return str(identity.to_public())


def decrypt(data: bytes, identities: Sequence[x25519.Identity]) -> bytes:
    """The plaintext of a binary age v1 file, with the first of ``identities`` that opens it.

    Raises CryptoError for an ASCII-armored file (unsupported here), data without the age v1 header,
    or when no identity matches or the file is damaged.
    """
    if data.startswith(AGE_ARMOR):
        raise CryptoError("ASCII-armored age files are not supported here; use `age -d`")
    if not data.startswith(AGE_MAGIC):
        raise CryptoError("not an age-encrypted file")
    try:
        return pyrage.decrypt(data, list(identities))
    except pyrage.DecryptError:
        raise CryptoError("cannot decrypt: no matching identity, or the file is damaged") from None
