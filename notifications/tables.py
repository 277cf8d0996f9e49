"""Tables of notifications/: recipients (contact points and channel preferences), notices (the inbox) and
deliveries (one row per notice and outside channel, with its status).

A recipient is keyed by ``recipient_key`` = "<kind>:<subject_id>" (kind is enterprise or talent) rather
than a two-column constraint, so the same unique index works on SQLite and PostgreSQL. Nothing here
refers to another domain's tables: subject ids are plain text.
"""

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Recipient(Table, tablename="notifications_recipient"):
    """Someone notices are delivered to, with contact points and opt-outs (the inbox is always on)."""

    recipient_key = Varchar(length=64, unique=True, index=True)
    kind = Varchar(length=16)
    subject_id = Varchar(length=40)
    display_name = Text(default="")
    locale = Varchar(length=8, default="zh-CN")
    email = Text(null=True, default=None)
    phone = Varchar(length=32, null=True, default=None)
    webhook_url = Text(null=True, default=None)
    webhook_secret = Text(null=True, default=None)
    email_enabled = Boolean(default=True)
    sms_enabled = Boolean(default=True)
    webhook_enabled = Boolean(default=True)
    # opted in to 政策解读 of a new policy the subject does not yet meet (a near miss); off unless the subject asks
    readings_enabled = Boolean(default=False)
    updated_at = Timestamptz()


class Notice(Table, tablename="notifications_notice"):
    """One message in a subject's inbox; ``key`` makes it once-only (the caller builds it)."""

    key = Varchar(length=200, unique=True, index=True)
    recipient_key = Varchar(length=64, index=True)
    recipient_kind = Varchar(length=16)
    subject_id = Varchar(length=40)
    kind = Varchar(length=32)
    locale = Varchar(length=8)
    title = Text()
    body = Text()
    # The context after masking, as JSON: enough to render the notice again in another language.
    context = Text()
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)


class Delivery(Table, tablename="notifications_delivery"):
    """A notice on one outside channel (email, sms, webhook): queued → sent, or failed with a reason."""

    notice = ForeignKey(references=Notice, index=True)
    recipient_key = Varchar(length=64, index=True)
    channel = Varchar(length=16)
    status = Varchar(length=16, index=True)
    attempts = Integer(default=0)
    reason = Text(default="")
    # Not before this instant (quiet hours, daily limit, retry); also when a queued row was last enqueued.
    due_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class ContactCode(Table, tablename="notifications_contact_code"):
    """A contact point a subject entered in the portal, waiting for the code sent to it (contacts.py). The address
    becomes the recipient's only once the code comes back; the code is kept only as a salted hash."""

    recipient_key = Varchar(length=64, index=True)
    channel = Varchar(length=16)  # email | sms | webhook
    address = Text()
    code_hash = Varchar(length=64)
    salt = Varchar(length=32)
    attempts = Integer(default=0)  # wrong codes entered
    status = Varchar(length=16, default="pending")  # pending | verified | failed | superseded
    created_at = Timestamptz()
    expires_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
