"""Attachment files of applications: size and type limits (by magic bytes, not by name), random stored names
under the attachments directory, and the path of a stored file for an ownership-checked download."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from kit.i18n import _l
from policies.applications.errors import AttachmentTooLarge, BadAttachment

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
# What each accepted type starts with; a renamed .exe is refused whatever its name says.
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSION = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content: bytes
    content_type: str
    sha256: str


def sniff(content: bytes) -> str | None:
    for content_type, prefixes in MAGIC.items():
        if any(content.startswith(p) for p in prefixes):
            return content_type
    return None


def clean_filename(name: str | None, content_type: str) -> str:
    """The uploader's file name, kept for display only: no directories, no control characters, bounded."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "", base).strip(" .") or "attachment"
    stem, _, _ = base.rpartition(".")
    base = (stem or base)[:100]
    return base + EXTENSION[content_type]


def check_files(files: list[tuple[str | None, bytes]]) -> list[CheckedFile]:
    """Every file checked before anything is stored: a bad one refuses the whole upload with its name."""
    files = [(n, c) for n, c in files if n or c]  # an empty file input arrives as ("", b"")
    if len(files) > MAX_FILES:
        raise BadAttachment(_l("at most {MAX_FILES} attachments / 最多上传{MAX_FILES}个附件"), MAX_FILES=MAX_FILES)
    out = []
    for name, content in files:
        shown = clean_filename(name, "application/pdf").rsplit(".", 1)[0]
        if len(content) > MAX_BYTES:
            raise AttachmentTooLarge(
                _l("{shown}: larger than {mb} MB / 附件超过5MB"), shown=shown, mb=MAX_BYTES // (1024 * 1024)
            )
        if not content:
            raise BadAttachment(_l("{shown}: the file is empty / 文件为空"), shown=shown)
        content_type = sniff(content)
        if content_type is None:
            raise BadAttachment(
                _l("{shown}: only PDF, JPG and PNG files are accepted / 仅接受PDF、JPG、PNG文件"),
                shown=shown,
                detail={"file": shown},
            )
        out.append(
            CheckedFile(clean_filename(name, content_type), content, content_type, hashlib.sha256(content).hexdigest())
        )
    return out


def store(directory: Path, f: CheckedFile) -> str:
    """Write the file under a random name (the uploader's name is never a path); returns the stored name."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored = secrets.token_hex(16) + EXTENSION[f.content_type]
    path = directory / stored
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(f.content)
    return stored


def remove(directory: Path, stored_names: list[str]) -> None:
    for name in stored_names:
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass


def path_of(directory: Path, stored_name: str) -> Path:
    path = (directory / stored_name).resolve()
    if path.parent != directory.resolve() or not path.is_file():
        raise BadAttachment(_l("the stored file is missing; ask an administrator"), status=410)
    return path
