"""Webhook bodies shaped like Meta's documented examples (WhatsApp Cloud API
``messages`` webhook reference; Messenger Platform webhook events), with the
ids and times a test needs filled in."""

from __future__ import annotations

import itertools
import time
from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "100200300"  # the "wa" touchpoint of tests/conftest.py
DISPLAY_NUMBER = "15550783881"
PAGE_ID = "998877"  # the "fb" touchpoint
CUSTOMER = "5511987650001"
PSID = "6843321887561234"

_n = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ{next(_n):05d}A="


def mid() -> str:
    return f"m_1457764197618:41d102a3e1ae206a38{next(_n):05d}"


def now_s() -> str:
    return str(int(time.time()))


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- WhatsApp


def wa_envelope(*values: dict[str, Any], waba: str = WABA_ID) -> dict[str, Any]:
    """One entry whose changes carry these values (field "messages")."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"value": v, "field": "messages"} for v in values]}],
    }


def wa_value(
    *,
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
    statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    name: str | None = "Sheena Nelson",
    wa_id: str = CUSTOMER,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}] if name else []
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return value


def wa_message(kind: str, body: dict[str, Any] | list[Any], *, id: str | None = None, sender: str = CUSTOMER, **extra: Any) -> dict[str, Any]:
    return {"from": sender, "id": id or wamid(), "timestamp": now_s(), "type": kind, kind: body, **extra}


def wa_text(text: str, **kw: Any) -> dict[str, Any]:
    return wa_message("text", {"body": text}, **kw)


def wa_inbound(*messages: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return wa_envelope(wa_value(messages=list(messages), **kw))


def wa_status(
    id: str,
    status: str,
    *,
    recipient: str = CUSTOMER,
    errors: list[dict[str, Any]] | None = None,
    callback: str | None = None,
) -> dict[str, Any]:
    s: dict[str, Any] = {"id": id, "status": status, "timestamp": now_s(), "recipient_id": recipient}
    if status in ("sent", "delivered", "read"):
        s["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        s["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if errors:
        s["errors"] = errors
    if callback is not None:
        s["biz_opaque_callback_data"] = callback
    return s


def wa_statuses(*statuses: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return wa_envelope(wa_value(statuses=list(statuses), **kw))


def wa_error(code: int, title: str, details: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


RE_ENGAGEMENT_ERROR = wa_error(
    131047,
    "Re-engagement message",
    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
)


# --------------------------------------------------------------------------- Messenger


def fb_envelope(*messaging: dict[str, Any], page: str = PAGE_ID) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page, "time": now_ms(), "messaging": list(messaging)}]}


def fb_message(message: dict[str, Any], *, psid: str = PSID, page: str = PAGE_ID) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": now_ms(), "message": message}


def fb_text(text: str, *, id: str | None = None, **kw: Any) -> dict[str, Any]:
    return fb_message({"mid": id or mid(), "text": text}, **kw)


def fb_echo(id: str, text: str, *, metadata: str | None = None, psid: str = PSID, page: str = PAGE_ID) -> dict[str, Any]:
    message: dict[str, Any] = {"is_echo": True, "app_id": 1517776481860111, "mid": id, "text": text}
    if metadata is not None:
        message["metadata"] = metadata
    return {"sender": {"id": page}, "recipient": {"id": psid}, "timestamp": now_ms(), "message": message}


def fb_delivery(watermark: int, mids: list[str] = (), *, psid: str = PSID, page: str = PAGE_ID) -> dict[str, Any]:  # type: ignore[assignment]
    delivery: dict[str, Any] = {"watermark": watermark}
    if mids:
        delivery["mids"] = list(mids)
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": now_ms(), "delivery": delivery}


def fb_read(watermark: int, *, psid: str = PSID, page: str = PAGE_ID) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": now_ms(), "read": {"watermark": watermark}}
