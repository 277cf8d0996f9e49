"""Attachment rules as properties: the type comes from the bytes, never the name; a stored name is never a path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.applications import attachments
from policies.applications.errors import AttachmentTooLarge, BadAttachment

MAGICS = [b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]


@given(st.binary(min_size=1, max_size=256), st.text(max_size=80))
def test_bytes_without_a_known_signature_are_refused_whatever_the_name(content, name):
    if any(content.startswith(m) for m in MAGICS):
        return
    with pytest.raises(BadAttachment):
        attachments.check_files([(name + ".pdf", content)])


@given(st.sampled_from(MAGICS), st.binary(max_size=256), st.text(max_size=300))
def test_a_known_signature_is_accepted_and_the_shown_name_is_tame(magic, rest, name):
    [f] = attachments.check_files([(name, magic + rest)])
    assert f.content_type in attachments.EXTENSION
    assert f.filename.endswith(attachments.EXTENSION[f.content_type])
    assert "/" not in f.filename and "\\" not in f.filename and "\x00" not in f.filename
    assert len(f.filename) <= 104 and not f.filename.startswith(".")


def test_size_and_count_limits():
    with pytest.raises(AttachmentTooLarge):
        attachments.check_files([("a.pdf", b"%PDF-" + b"0" * attachments.MAX_BYTES)])
    assert len(attachments.check_files([("a.pdf", b"%PDF-" + b"0" * (attachments.MAX_BYTES - 5))])) == 1
    with pytest.raises(BadAttachment):
        attachments.check_files([("a.png", b"\x89PNG\r\n\x1a\n")] * (attachments.MAX_FILES + 1))
    with pytest.raises(BadAttachment):
        attachments.check_files([("empty.pdf", b"")])


def test_stored_files_get_random_names_inside_the_directory(tmp_path):
    [f] = attachments.check_files([("../../etc/passwd.pdf", b"%PDF-1.4")])
    names = {attachments.store(tmp_path, f) for _ in range(20)}
    assert len(names) == 20
    for n in names:
        assert attachments.path_of(tmp_path, n).read_bytes() == b"%PDF-1.4"
        assert (tmp_path / n).stat().st_mode & 0o077 == 0
    with pytest.raises(BadAttachment):
        attachments.path_of(tmp_path, "../x.pdf")
