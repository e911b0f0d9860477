"""The OpenAPI document (server/openapi.py) is valid OpenAPI 3.1, declares
exactly the node's routes, and every answer a real node gives is one it
documents (status and body schema). docs/HTTP.md's examples fit it too."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import msgspec
import pytest
from msgspec.structs import replace
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.routing import Route

from protocol.asyncapi import asyncapi
from server.channels.signature import HEADER, sign
from server.config import Config, MetaSettings
from server.openapi import ENDPOINTS, openapi
from tests.conftest import Running, make_config, token

HTTP_MD = Path(__file__).resolve().parents[2] / "docs" / "HTTP.md"
APP_SECRET = "openapi-test-secret"
VERIFY_TOKEN = "openapi-verify"
DOC = openapi()


@pytest.fixture
def config() -> Config:
    c = make_config()
    return replace(c, meta=MetaSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, fetch_profiles=False))


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    validate_openapi(DOC)
    broken = copy.deepcopy(DOC)  # the validator has teeth: a parameter "in" the body is not OpenAPI
    broken["paths"]["/api/conversations/{conv_id}"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def declared() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in DOC["paths"].items() for m in ops}


def routes_of(running: Running) -> set[tuple[str, str]]:
    app = running.node.http_app()
    out: set[tuple[str, str]] = set()
    for r in app.routes:
        if isinstance(r, Route):  # the web app's static Mount at / is not an API
            out |= {(m, r.path) for m in (r.methods or {"GET"}) if m != "HEAD"}
    return out


async def test_every_route_is_declared_and_nothing_else(running: Running) -> None:
    assert routes_of(running) == declared()


async def test_dev_routes_are_marked_and_absent_in_production(running: Running) -> None:
    dev = {(e.method, e.path) for e in ENDPOINTS if e.dev}
    assert dev and all(DOC["paths"][path][m.lower()]["x-dev-only"] for m, path in dev)
    running.node.config = replace(running.node.config, server=replace(running.node.config.server, dev_endpoints=False))
    assert routes_of(running) == declared() - dev


def check(response: httpx.Response, method: str, path: str) -> None:
    """The answer's status is documented for the endpoint, and its body fits."""
    op = DOC["paths"][path][method.lower()]
    answer = op["responses"].get(str(response.status_code))
    assert answer is not None, f"{method} {path} answered {response.status_code}, not documented: {response.text}"
    media, content = next(iter(answer["content"].items()))
    assert response.headers["content-type"].split(";")[0] == media, (method, path, response.status_code)
    if media == "application/json":
        schema = {**content["schema"], "components": DOC["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())


async def test_real_answers_are_the_documented_ones(running: Running) -> None:
    http, base = running.http, running.base
    ana = {"Authorization": f"Bearer {token('ana')}"}
    sofia = {"Authorization": f"Bearer {token('sofia')}"}

    async def call(method: str, path: str, url: str | None = None, **kw: Any) -> httpx.Response:
        r = await http.request(method, base + (url or path), **kw)
        check(r, method, path)
        return r

    for path in ("/healthz", "/readyz", "/metrics", "/protocol/schema.json", "/api/config"):
        assert (await call("GET", path)).status_code == 200
    assert (await call("GET", "/protocol/asyncapi.json")).json() == asyncapi()
    assert (await call("GET", "/protocol/openapi.json")).json() == DOC

    made = (await call("POST", "/api/dev/inbound", json={"touchpoint_id": "wa", "address": "5511900000001", "text": "Oi", "id": "w1"})).json()
    again = await call("POST", "/api/dev/inbound", json={"touchpoint_id": "wa", "address": "5511900000001", "text": "Oi", "id": "w1"})
    assert again.json() == {"duplicate": True}
    assert (await call("POST", "/api/dev/inbound", json={"touchpoint_id": "nope", "text": "x"})).status_code == 404
    assert (await call("POST", "/api/dev/inbound", content=b"{}", headers={"content-type": "text/plain"})).status_code == 415
    assert (await call("POST", "/api/dev/inbound", json={"touchpoint_id": "wa", "text": "x" * 20000})).status_code == 413
    assert (await call("GET", "/api/dev/agents")).status_code == 200
    assert (await call("POST", "/api/dev/login", json={"agent_id": "ana"})).status_code == 200
    assert (await call("POST", "/api/dev/login", json={"agent_id": "nobody"})).status_code == 404
    assert (await call("POST", "/api/dev/login", json={"agent": 1})).status_code == 400

    inbox = "/api/queues/{queue_id}/inbox"
    assert len((await call("GET", inbox, "/api/queues/sales/inbox", headers=ana)).json()) == 1
    assert (await call("GET", inbox, "/api/queues/support/inbox", headers=ana)).status_code == 404
    assert (await call("GET", inbox, "/api/queues/sales/inbox")).status_code == 401
    assert (await call("GET", inbox, "/api/queues/sales/inbox", headers={"Authorization": "Bearer x.y"})).status_code == 401

    cid = made["conversation_id"]
    conv, search = "/api/conversations/{conv_id}", "/api/conversations/{conv_id}/search"
    page = (await call("GET", conv, f"/api/conversations/{cid}?limit=10", headers=ana)).json()
    assert page["messages"][0]["text"] == "Oi"
    assert (await call("GET", conv, f"/api/conversations/{cid}?before=-1", headers=ana)).status_code == 400
    assert (await call("GET", conv, "/api/conversations/c_nope", headers=ana)).status_code == 404
    hits = (await call("GET", search, f"/api/conversations/{cid}/search?q=oi", headers=ana)).json()
    assert hits["kind"] == "search" and len(hits["hits"]) == 1
    assert (await call("GET", search, "/api/conversations/c_nope/search?q=oi", headers=ana)).status_code == 404

    assert (await call("GET", "/api/contacts", headers=ana)).status_code == 403
    assert (await call("GET", "/api/contacts", headers=sofia)).status_code == 200
    contact = "/api/contacts/{channel}/{address}"
    url = f"/api/contacts/whatsapp/{quote('+5511900000001', safe='')}"
    named = await call("PUT", contact, url, headers=sofia, json={"name": "Rosa Lima"})
    assert named.json()["display_name"] == "Rosa Lima"
    assert (await call("PUT", contact, url, headers=ana, json={"name": "x"})).status_code == 403
    assert (await call("PUT", contact, "/api/contacts/sms/1", headers=sofia, json={"name": "x"})).status_code == 400
    assert (await call("PUT", contact, "/api/contacts/whatsapp/12", headers=sofia, json={"name": "x"})).status_code == 400
    assert (await call("DELETE", contact, url, headers=sofia)).json()["known"] is False

    revoke = "/api/agents/{agent_id}/revoke"
    assert (await call("POST", revoke, "/api/agents/bruno/revoke", headers=ana)).status_code == 403
    assert (await call("POST", revoke, "/api/agents/bruno/revoke", headers=sofia)).json()["agent_id"] == "bruno"
    assert (await call("POST", "/api/logout", headers=ana)).status_code == 200
    assert (await call("POST", "/api/logout", headers=ana)).status_code == 401  # revoked now

    for channel, body in (
        ("whatsapp", {"object": "whatsapp_business_account", "entry": []}),
        ("messenger", {"object": "page", "entry": []}),
    ):
        path = f"/webhooks/{channel}"
        hello = f"{path}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42"
        assert (await call("GET", path, hello)).text == "42"
        assert (await call("GET", path, f"{path}?hub.mode=subscribe&hub.verify_token=no&hub.challenge=42")).status_code == 403
        raw = msgspec.json.encode(body)
        signed = {HEADER: sign(APP_SECRET, raw), "content-type": "application/json"}
        assert (await call("POST", path, content=raw, headers=signed)).json()["ok"] is True
        assert (await call("POST", path, content=raw, headers={HEADER: "sha256=00"})).status_code == 401
        wrong = b'{"object": "nope"}'
        assert (await call("POST", path, content=wrong, headers={HEADER: sign(APP_SECRET, wrong)})).status_code == 400


def http_examples() -> list[tuple[str, str, str, str]]:
    """(method, path, language, example) for each ```json or ```text block
    under a `### \\`METHOD /path\\`` heading of docs/HTTP.md."""
    out = []
    for section in re.split(r"^### ", HTTP_MD.read_text(), flags=re.M)[1:]:
        head = re.match(r"`(GET|POST|PUT|DELETE) (\S+)`", section)
        if head is None:
            continue
        for language, block in re.findall(r"```(json|text)\n(.*?)```", section, re.S):
            out.append((head.group(1), head.group(2), language, block))
    return out


def test_every_endpoint_has_an_example_in_http_md() -> None:
    documented = {(m, path) for m, path, _, _ in http_examples()}
    assert declared() - documented == set(), "docs/HTTP.md lacks these endpoints"
    assert documented - declared() == set(), "docs/HTTP.md names endpoints the node does not have"


@pytest.mark.parametrize("method,path,language,block", http_examples(), ids=lambda x: str(x)[:40])
def test_http_md_examples_fit_the_document(method: str, path: str, language: str, block: str) -> None:
    """Each example is one of the endpoint's documented answers: a JSON body
    that fits its schema, or text where the endpoint answers text/plain."""
    responses = DOC["paths"][path][method.lower()]["responses"]
    if language == "text":
        assert any("text/plain" in a.get("content", {}) for a in responses.values()), (method, path)
        return
    example = json.loads(block)
    fits = []
    for answer in responses.values():
        content = answer.get("content", {}).get("application/json")
        if content is not None:
            schema = {**content["schema"], "components": DOC["components"]}
            fits.append(jsonschema.Draft202012Validator(schema).is_valid(example))
    assert any(fits), f"{method} {path}: the example fits none of the documented answers"
