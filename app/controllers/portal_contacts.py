"""The portal's contact points (联系方式): a subject sets its e-mail address, mobile number and webhook URL itself, each
verified by a code sent through that channel (notifications/contacts.py). JSON under /api/portal/contacts, the page
/portal/contacts. An address waiting for its code is never used for notices; the opt-outs stay on
/portal/preferences."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Request, get, post, put
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field, field_validator

import app.worker
from app.auth.guards import own_subject
from app.controllers.portal import FORM, SUBJECTS, _actor, _html
from app.flash import flash
from app.i18n import error_text, lang_of, render
from app.schemas.errors import errors
from kit.errors import AppError
from kit.i18n import _l
from notifications import contacts
from notifications import service as notifications
from notifications.channels.base import DeliveryConfig
from notifications.errors import ChannelError, RecipientInvalid
from notifications.schemas import CHANNELS, RecipientRead


class ContactCodeRequest(BaseModel):
    address: str = Field(max_length=2000, description="the e-mail address, mobile number or webhook URL")


class ContactCodeSent(BaseModel):
    channel: str
    address_masked: str
    expires_at: dt.datetime


class ContactVerify(BaseModel):
    code: str = Field(max_length=12)


def _config() -> DeliveryConfig:
    return DeliveryConfig.from_settings(app.worker.get_settings())  # the worker's channels, the same settings


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise RecipientInvalid(_l("unknown channel {channel}"), channel=channel)
    return channel


@post("/api/portal/contacts/{channel:str}/code", guards=[SUBJECTS], tags=["portal"], status_code=202,
      responses=errors(422, 429, 502))  # fmt: skip
async def api_send_code(request: Request, channel: str, data: JSONBody[ContactCodeRequest]) -> ContactCodeSent:
    """Send a verification code to a new contact point (email | sms | webhook) through that channel; the address is
    used for notices only once the code is confirmed. Audited."""
    kind, subject_id = own_subject(request)
    p = await contacts.start(
        kind, subject_id, _channel(channel), data.address, actor=_actor(request), config=_config(),
        locale=lang_of(request),
    )  # fmt: skip
    return ContactCodeSent(channel=p.channel, address_masked=p.address_masked, expires_at=p.expires_at)


@post("/api/portal/contacts/{channel:str}/verify", guards=[SUBJECTS], tags=["portal"], status_code=200,
      responses=errors(422))  # fmt: skip
async def api_verify(request: Request, channel: str, data: JSONBody[ContactVerify]) -> RecipientRead:
    """Confirm the code: the address becomes a contact point for notices (5 wrong codes or 10 minutes: ask again)."""
    kind, subject_id = own_subject(request)
    return await contacts.confirm(kind, subject_id, _channel(channel), data.code, actor=_actor(request))


@get("/portal/contacts", guards=[SUBJECTS], include_in_schema=False)
async def contacts_page(request: Request) -> Template:
    kind, subject_id = own_subject(request)
    return _html(
        "portal/contacts.html",
        r=await notifications.preferences_of(kind, subject_id),
        pending=await contacts.pending(kind, subject_id),
        minutes=contacts.CODE_MINUTES,
    )


class _AddressForm(BaseModel):
    address: str = Field(default="", max_length=2000)


class _CodeForm(BaseModel):
    code: str = Field(default="", max_length=12)


def _refused(request: Request, channel: str, reason: object) -> Redirect:
    """A refusal on the page (a message above the form), not an error page: the API answers it as 4xx/502."""
    lang = lang_of(request)
    text = error_text(lang, reason) if isinstance(reason, BaseException) else render(lang, str(reason))
    flash(request, text, "error")
    return Redirect(f"/portal/contacts#{channel if channel in CHANNELS else ''}")


@post("/portal/contacts/{channel:str}/code", guards=[SUBJECTS], include_in_schema=False)
async def send_code_form(request: Request, channel: str, data: Annotated[_AddressForm, FORM]) -> Redirect:
    try:
        p = await api_send_code.fn(request, channel, ContactCodeRequest(address=data.address))
    except ChannelError:  # the channel could not carry the code (not configured, or its provider refused): say so here
        return _refused(
            request, channel, _l("This channel cannot send a code right now. Try another channel or later.")
        )
    except AppError as e:
        return _refused(request, channel, e)
    flash(request, render(lang_of(request), _l("A code was sent to {address}."), {"address": p.address_masked}))
    return Redirect(f"/portal/contacts#{channel}")


@post("/portal/contacts/{channel:str}/verify", guards=[SUBJECTS], include_in_schema=False)
async def verify_form(request: Request, channel: str, data: Annotated[_CodeForm, FORM]) -> Redirect:
    try:
        await api_verify.fn(request, channel, ContactVerify(code=data.code))
    except AppError as e:
        return _refused(request, channel, e)
    flash(request, render(lang_of(request), _l("Verified: notices can now reach this contact point.")))
    return Redirect(f"/portal/contacts#{channel}")


@post("/portal/contacts/{channel:str}/remove", guards=[SUBJECTS], include_in_schema=False)
async def remove_form(request: Request, channel: str) -> Redirect:
    kind, subject_id = own_subject(request)
    try:
        await contacts.remove(kind, subject_id, _channel(channel), actor=_actor(request))
    except AppError as e:
        return _refused(request, channel, e)
    flash(request, render(lang_of(request), _l("Removed.")))
    return Redirect(f"/portal/contacts#{channel}")


class ReadingsOptIn(BaseModel):
    enabled: bool = Field(description="receive 政策解读 of new policies you do not yet meet (near misses)")

    @field_validator("enabled", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        # As ChannelPreferences: true or false only (0 was read as false; schemathesis found the schema violation).
        if not isinstance(value, bool):
            raise ValueError(_l("true or false"))
        return value


@put("/api/portal/readings", guards=[SUBJECTS], tags=["portal"], responses=errors(422))
async def api_set_readings(request: Request, data: JSONBody[ReadingsOptIn]) -> RecipientRead:
    """Opt in to (or out of) 政策解读 for near misses: when a new policy is published that you miss by at most two
    conditions, a notice says what is still needed. Default off; audited."""
    kind, subject_id = own_subject(request)
    return await notifications.set_readings(kind, subject_id, data.enabled, actor=_actor(request))


class _ReadingsForm(BaseModel):
    readings: str = Field(default="", max_length=8)


@post("/portal/contacts/readings", guards=[SUBJECTS], include_in_schema=False)
async def readings_form(request: Request, data: Annotated[_ReadingsForm, FORM]) -> Redirect:
    enabled = data.readings == "on"
    await api_set_readings.fn(request, ReadingsOptIn(enabled=enabled))
    flash(
        request,
        render(
            lang_of(request),
            _l("Policy readings switched on.") if enabled else _l("Policy readings switched off."),
        ),
    )
    return Redirect("/portal/contacts#readings")


route_handlers = [
    api_send_code,
    api_verify,
    contacts_page,
    send_code_form,
    verify_form,
    remove_form,
    api_set_readings,
    readings_form,
]
