"""The ids that tie log lines together: the request id of an HTTP request (or a command run), carried into the jobs
it queues and the bank calls they make, and the id and name of the running job. Held in contextvars (structlog's),
so every log line written in that context carries them, whoever writes it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

# The job keyword argument that carries the request id from the enqueuer to the job (app/jobs.py, app/worker.py).
REQUEST_ID_KWARG = "zhida_request_id"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def usable_request_id(value: str | None) -> str:
    """A caller's X-Request-ID when it is a short token (no spaces, no personal data room to speak of), else a new
    one."""
    return value if value and _SAFE.match(value) else new_request_id()


def request_id() -> str | None:
    """The request id of this context, or None."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind ``values`` (None ones are skipped) for the code run inside; the previous binding comes back after."""
    present = {k: v for k, v in values.items() if v}
    with structlog.contextvars.bound_contextvars(**present):
        yield
