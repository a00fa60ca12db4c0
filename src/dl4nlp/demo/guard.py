"""The demo's HTTP API, checked before Gradio sees a request.

Gradio turns whatever a script posts into the handler's argument types (a list or a number in a text field
becomes its ``str``, a missing input becomes ``None``), reads a request body of any size, and answers an unknown
API name with HTTP 500. :class:`RequestGuard`, an ASGI middleware installed by :func:`dl4nlp.demo.app.launch`,
answers instead, with one clear message and one log line on stderr per refused request:

- 413 when the body is larger than ``DemoSettings.max_request_bytes`` (uploads have their own cap);
- 404 for an API name (or ``fn_index``) the app does not have, listing the names it has;
- 400 for a body that is not a JSON object with a ``data`` list;
- 422 when ``data`` does not match the handler's inputs: their number, and each input's type and range as its
  component declares them (text: a string; number and slider: a finite number within the component's
  minimum / maximum; dropdown and radio: one of the choices; checkbox: true or false).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_ROUTES = ("/gradio_api/call/v2/", "/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/")
QUEUE_JOIN = "/gradio_api/queue/join"


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _label(component: Any, i: int) -> str:
    return str(getattr(component, "label", None) or f"input {i + 1}")


def _number(value: Any, component: Any, name: str, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(422, f"{name}: expected a number, got {json.dumps(value)[:80]}")
    if not math.isfinite(value):
        raise BadRequest(422, f"{name}: expected a finite number, got {value}")
    low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(422, f"{name}: {value} is out of range ({low} to {high})")


def check_value(component: Any, value: Any, name: str) -> None:
    """One input's value against its component; :class:`BadRequest` (422) naming the input otherwise."""
    import gradio as gr

    if isinstance(component, gr.Textbox):
        if value is not None and not isinstance(value, str):
            raise BadRequest(422, f"{name}: expected text (a JSON string), got {json.dumps(value)[:80]}")
    elif isinstance(component, gr.Slider):
        _number(value, component, name, optional=False)
    elif isinstance(component, gr.Number):
        _number(value, component, name, optional=True)
    elif isinstance(component, gr.Checkbox):
        if not isinstance(value, bool):
            raise BadRequest(422, f"{name}: expected true or false, got {json.dumps(value)[:80]}")
    elif isinstance(component, gr.Dropdown | gr.Radio):
        if getattr(component, "multiselect", False) or getattr(component, "allow_custom_value", False):
            return
        allowed = [c[1] if isinstance(c, tuple | list) else c for c in component.choices]
        if value not in allowed:
            raise BadRequest(422, f"{name}: {json.dumps(value)[:80]} is not one of {', '.join(map(str, allowed))}")


def check_call(fn: Any, api: str, data: Any) -> None:
    """``data`` against the inputs of the Gradio function ``fn`` (called as ``api``)."""
    inputs = list(fn.inputs)
    if not isinstance(data, list):
        raise BadRequest(400, f"{api}: 'data' must be a list of the inputs, got {json.dumps(data)[:80]}")
    if len(data) != len(inputs):
        names = ", ".join(_label(c, i) for i, c in enumerate(inputs))
        raise BadRequest(422, f"{api}: expects {len(inputs)} input(s) ({names}), got {len(data)}")
    for i, (component, value) in enumerate(zip(inputs, data, strict=True)):
        check_value(component, value, f"{api}: {_label(component, i)}")


class RequestGuard:
    """ASGI middleware: checks POSTs to the Gradio API (see the module docstring); other requests pass."""

    def __init__(self, app: Callable[..., Awaitable[None]], blocks: Any, max_bytes: int):
        self.app, self.blocks, self.max_bytes = app, blocks, int(max_bytes)

    def apis(self) -> dict[str, Any]:
        """API name -> Gradio function, for the functions with a public name."""
        return {fn.api_name: fn for fn in self.blocks.fns.values()
                if fn.api_name and getattr(fn, "api_visibility", "public") != "private"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or scope.get("method") != "POST" or path.endswith("/upload"):
            return await self.app(scope, receive, send)
        try:
            body = await self.read_body(scope, receive)
            self.check(path, body)
        except BadRequest as exc:
            print(f"dl4nlp demo: refused POST {path} (HTTP {exc.status}): {exc}", file=sys.stderr, flush=True)
            return await self.answer(send, exc.status, str(exc))
        sent = False

        async def replay() -> Message:  # the body once, then the client's further messages (disconnect)
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = f"the limit is {self.max_bytes:,} bytes (dl4nlp serve --max-request-bytes)"
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BadRequest(413, f"request body is {int(declared):,} bytes; {limit}")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BadRequest(413, f"request body is over {self.max_bytes:,} bytes; {limit}")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def check(self, path: str, body: bytes) -> None:
        route = next((r for r in API_ROUTES if path.startswith(r)), None)
        if route is None and path.rstrip("/") != QUEUE_JOIN:
            return
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(400, f"request body is not JSON ({exc})") from None
        if not isinstance(payload, dict) or "data" not in payload:
            raise BadRequest(400, 'request body must be a JSON object {"data": [inputs...]}')
        if route is not None:
            api = path[len(route):].strip("/")
            fn = self.apis().get(api)
            if fn is None:
                raise BadRequest(404, f"unknown API '{api}' (this demo has: {', '.join(sorted(self.apis()))})")
        else:
            index = payload.get("fn_index")
            fn = self.blocks.fns.get(index) if isinstance(index, int) and not isinstance(index, bool) else None
            if fn is None:
                raise BadRequest(404, f"unknown fn_index {json.dumps(index)[:40]}")
            api = fn.api_name or f"fn_index {index}"
        check_call(fn, api, payload["data"])

    @staticmethod
    async def answer(send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
