"""How the audit trail is shown to its readers (the audit page, its download, the evidence pack): personal numbers
masked in the actor, the entity id and the detail, and the columns of a download. The stored text is untouched: the
hash chain is verified on it."""

from __future__ import annotations

import json
from typing import Any

from app.exports import Column
from app.i18n import ROLE_LABELS
from kit.masking import masker_for, scrub_text


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
        fn = masker_for(key)
        if fn is not None:
            return fn(str(value))
        return scrub_text(value) if isinstance(value, str) else value
    return value


def _masked_detail(detail: str) -> str:
    """The detail with personal numbers masked: by key where it is JSON (an account under "payee_account"), and any
    long number in its text."""
    try:
        data = json.loads(detail)
    except ValueError:
        return scrub_text(detail)
    if not isinstance(data, (dict, list)):
        return scrub_text(detail)
    return json.dumps(_mask_value("", data), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def masked_entry(row: dict) -> dict:
    """An entry as its readers see it: the actor, the entity id and the detail with personal numbers masked."""
    return {
        **row,
        "actor": scrub_text(row["actor"]),
        "entity_id": scrub_text(row["entity_id"]),
        "detail": _masked_detail(row["detail"] or ""),
    }


AUDIT_COLUMNS = [
    Column("seq", "序号", "Seq"),
    Column("at", "时间（北京时间）", "Time (Beijing time)"),
    Column("actor", "操作人", "Actor"),
    Column("role", "角色", "Role", value=lambda r: ROLE_LABELS.get(r["role"], (r["role"],))[0]),
    Column("action", "动作", "Action"),
    Column("entity", "对象类型", "Entity"),
    Column("entity_id", "对象编号", "Entity id"),
    Column("detail", "详情", "Detail"),
    Column("before_digest", "变更前摘要", "Before (digest)"),
    Column("after_digest", "变更后摘要", "After (digest)"),
    Column("prev_hash", "前一条哈希", "Previous hash"),
    Column("hash", "哈希", "Hash"),
]
