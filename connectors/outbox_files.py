"""File connectors for the embedded default: each notice becomes one file in an outbox directory.

`FileEmailSender` writes `<outbox>/<notice_id>.eml`, the very bytes SmtpSender would put on the wire
(same builder), so a file can be opened in a mail client or replayed to a relay. `FileSmsSender`
writes `<outbox>/<notice_id>.sms.json`. Both are idempotent per notice: a file that exists is never
rewritten and the send reports SENT with the same provider_id (the file's path). Files appear
atomically (written under a temporary name, then linked into place), so a reader never sees half
a message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import pathlib
import re
import tempfile

from connectors import email as email_connector
from engine.notices import channels

# Relative to the working directory, like the embedded SQLite database under ./var.
DEFAULT_OUTBOX = pathlib.Path("var/outbox")
# Notice ids become file names: letters, digits, '_', '-', '.', and no leading dot or '..'.
SAFE_NOTICE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


class _Outbox:
    """A directory that takes each name once."""

    def __init__(self, directory: os.PathLike[str] | str) -> None:
        self.directory = pathlib.Path(directory)

    async def put(self, notice_id: str, suffix: str, content: bytes) -> channels.SendResult:
        if not SAFE_NOTICE_ID.fullmatch(notice_id) or ".." in notice_id:
            return channels.SendResult(channels.Outcome.DEAD, reason=f"notice id {notice_id!r} is not a safe file name")
        path = (self.directory / f"{notice_id}{suffix}").absolute()
        try:
            created = await asyncio.to_thread(_write_once, path, content)
        except OSError as exc:  # full disk, permissions: an operator can fix it, keep the notice
            return channels.SendResult(channels.Outcome.RETRY, reason=f"cannot write {path}: {exc}")
        return channels.SendResult(channels.Outcome.SENT, provider_id=str(path),
                                   response="written" if created else "already written")


def _write_once(path: pathlib.Path, content: bytes) -> bool:
    """Write `content` to `path` unless it exists; False if it did. Atomic and race-free: the file
    is complete before it has its name, and os.link refuses to replace an existing one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False  # another writer got there first; theirs stands
        except OSError:
            # No hard links on this filesystem: fall back to replace, after checking again.
            if path.exists():
                return False
            os.replace(temporary, path)
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class FileEmailSender:
    """engine.channels.EmailSender writing `.eml` files (see the module docstring)."""

    def __init__(self, *, from_address: str, from_name: str = "",
                 outbox: os.PathLike[str] | str = DEFAULT_OUTBOX) -> None:
        self.from_address = from_address
        self.from_name = from_name
        self._outbox = _Outbox(outbox)

    @property
    def directory(self) -> pathlib.Path:
        """Where the files go."""
        return self._outbox.directory

    async def open(self) -> None:
        """Nothing to open: the directory is created on first write."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, message: channels.EmailMessage) -> channels.SendResult:
        """Write the message's MIME bytes to `<outbox>/<notice_id>.eml` once."""
        try:
            _, payload = email_connector.render(message, from_address=self.from_address, from_name=self.from_name)
        except ValueError as exc:
            return channels.SendResult(channels.Outcome.DEAD, reason=f"invalid message: {exc}")
        return await self._outbox.put(message.notice_id, ".eml", payload)


class FileSmsSender:
    """engine.channels.SmsSender writing `.sms.json` files (see the module docstring)."""

    def __init__(self, *, outbox: os.PathLike[str] | str = DEFAULT_OUTBOX) -> None:
        self._outbox = _Outbox(outbox)

    @property
    def directory(self) -> pathlib.Path:
        """Where the files go."""
        return self._outbox.directory

    async def open(self) -> None:
        """Nothing to open: the directory is created on first write."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, message: channels.SmsMessage) -> channels.SendResult:
        """Write the message's fields and the time to `<outbox>/<notice_id>.sms.json` once."""
        record = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
        record["params"] = dict(message.params)  # any Mapping, as JSON object
        record["written_at"] = datetime.datetime.now(datetime.UTC).isoformat()
        content = json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        return await self._outbox.put(message.notice_id, ".sms.json", content)
