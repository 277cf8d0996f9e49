"""One user of every role (and anonymous) for the tests that walk every operation: odd input, schemathesis."""

from __future__ import annotations

from kit.vocab import Role
from tests.web import ensure_user

# A staff user per staff role; the enterprise and talent users are named by their subject ids.
USERS: dict[str, str] = {
    Role.POLICY_OFFICER: "every_officer",
    Role.POLICY_REVIEWER: "every_reviewer",
    Role.FINANCE_MAKER: "every_maker",
    Role.FINANCE_CHECKER: "every_checker",
    Role.AUDITOR: "every_auditor",
    Role.ADMIN: "every_admin",
    Role.ENTERPRISE: "91360100000000001Q",
    Role.TALENT: "360102199207081233",
}


async def ensure_every_role() -> dict[str, str]:
    for role, name in USERS.items():
        await ensure_user(name, str(role))
    return dict(USERS)
