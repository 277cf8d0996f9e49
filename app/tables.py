"""Tables of app/: users, their sessions, the login throttle and the audit trail."""

from piccolo.columns import BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="app_user"):
    """A person who logs in: staff by user name, enterprises and talents by subject id."""

    username = Varchar(length=64, unique=True, index=True)
    role = Varchar(length=32)
    password_hash = Text()
    display_name = Varchar(length=128, default="")
    subject_kind = Varchar(length=16, null=True, default=None)  # enterprise | talent for portal users
    subject_id = Varchar(length=18, null=True, default=None, index=True)
    active = Boolean(default=True)
    created_at = Timestamptz()
    # A new account (or one whose password an admin reset) has no password until its owner sets one with the
    # one-time activation code: its SHA-256 here, cleared when used (app/auth/accounts.py).
    activation_hash = Varchar(length=64, null=True, default=None)
    activation_expires_at = Timestamptz(null=True, default=None)
    # The SHA-256 of the user's personal CLI token (ZHIDA_ACTOR_TOKEN), issued by `zhida users token`.
    token_hash = Varchar(length=64, null=True, default=None, index=True)


class RoleGrant(Table, tablename="app_role_grant"):
    """An admin's request that waits for a second admin: an account with a policy, finance or admin role, a change
    to such a role, or a reset of such an account's password. ``decided_by`` is never ``requested_by``."""

    username = Varchar(length=64, index=True)
    role = Varchar(length=32)
    display_name = Varchar(length=128, default="")
    kind = Varchar(length=16)  # create | role | reset | enable
    status = Varchar(length=16, default="pending")  # pending | confirmed | cancelled
    requested_by = Varchar(length=64)
    requested_at = Timestamptz()
    decided_by = Varchar(length=64, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


class Session(Table, tablename="app_session"):
    """A logged-in browser: the cookie carries a random token, this row its digest. Logging out deletes the row; a
    changed password or role no longer matches ``credential`` / ``role``, so every older session ends with it."""

    token_hash = Varchar(length=64, unique=True, index=True)
    username = Varchar(length=64, index=True)
    role = Varchar(length=32)
    credential = Varchar(length=64)  # digest of the user's password hash when the session began
    created_at = Timestamptz()
    expires_at = Timestamptz()


class LoginThrottle(Table, tablename="app_login_throttle"):
    """Counted login attempts per (source, user name), and the lock of a user name (source ``*``), shared by every web
    process. Times are Unix seconds so that one UPDATE can compare and set them on SQLite and PostgreSQL alike."""

    slot = Varchar(length=200, unique=True, index=True)  # "<source>|<username>"
    username = Varchar(length=64, index=True)
    source = Varchar(length=128)
    failures = Integer(default=0)
    blocked_until = BigInt(default=0)
    last_at = BigInt(default=0, index=True)


class AuditEntry(Table, tablename="app_audit_entry"):
    """审计留痕: one append-only, hash-chained entry per state change."""

    seq = BigInt(unique=True, index=True)
    at = Timestamptz()
    actor = Varchar(length=64)
    role = Varchar(length=32)
    action = Varchar(length=64, index=True)
    entity = Varchar(length=64, index=True)
    entity_id = Varchar(length=128, index=True)
    before_digest = Varchar(length=64, default="")
    after_digest = Varchar(length=64, default="")
    detail = Text(default="")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)


class AuditHead(Table, tablename="app_audit_head"):
    """The last entry's seq and hash, kept apart so that deleting entries at the end is detected too; ``mac`` seals the
    two with a key from configuration (ZHIDA_AUDIT_KEY), so that cutting the trail and moving the head back, or
    rewriting entries and their hashes, needs a key the database does not hold."""

    seq = BigInt()
    hash = Varchar(length=64)
    mac = Varchar(length=64, default="")


class IdentityLink(Table, tablename="app_identity_link"):
    """A staff account linked to a person at the unified identity provider (统一身份认证): a login whose ID token
    carries this issuer and ``subject`` (the provider's ``sub``) is that account. An admin links; for a policy,
    finance or admin account the link counts only once a second admin confirmed it (``status`` linked)."""

    subject_key = Varchar(length=64, unique=True, index=True)  # SHA-256 of issuer and sub: one account per person
    issuer = Varchar(length=255)
    subject = Varchar(length=255)
    username = Varchar(length=64, index=True)
    status = Varchar(length=16, default="pending")  # pending | linked
    requested_by = Varchar(length=64)
    requested_at = Timestamptz()
    decided_by = Varchar(length=64, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


class HotlineConsent(Table, tablename="app_hotline_consent"):
    """A consent code a subject read out to a 12345 agent (app/hotline.py): the code's keyed digest, never the code;
    valid ``CODE_MINUTES``, used once, at most ``CODE_TRIES`` wrong codes; issuing a new one voids the older ones."""

    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=18, index=True)
    code_hash = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)  # used by a grant, or voided by a newer code
    failures = Integer(default=0)


class HotlineGrant(Table, tablename="app_hotline_grant"):
    """A 12345 agent's access to one caller, opened with the caller's consent code, until ``expires_at``."""

    agent = Varchar(length=64, index=True)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=18, index=True)
    consent_id = Integer()
    created_at = Timestamptz()
    expires_at = Timestamptz()


class StaffMessage(Table, tablename="app_staff_message"):
    """A message to one staff user in the staff inbox (/staff/inbox): a deadline reminder or an escalation. ``key``
    (unique) makes it once per item, kind and user; the text is rendered in the reader's language from ``kind`` and
    ``params`` (JSON)."""

    key = Varchar(length=200, unique=True, index=True)
    username = Varchar(length=64, index=True)
    kind = Varchar(length=32)  # objection_reminder | objection_escalation
    entity = Varchar(length=32)
    entity_id = Varchar(length=64)
    params = Text(default="{}")
    link = Text(default="")
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)
