"""POST /api/purchases, the kiosk's hot path: one shared command and its ASGI fast path.

The route (api/routes/purchases.py) and the fast path (`PurchaseFastPath`, a middleware
just outside the app's routing) both run `purchase` below, so they authenticate, hash
the body, write, number and answer the same way.

- The fast path takes a request only when it is plainly well formed: a JSON body that
  validates as `PurchaseIn`, at most one `Idempotency-Key` that validates. Anything else
  goes on, untouched, to the route, whose FastAPI validation answers with its usual
  problem+json. Through FastAPI a purchase costs routing, dependency solving, two pool
  checkouts and the middlewares' wrappers; here it costs one checkout and the work.
- Once a request has passed that check it is answered here, whatever happens next
  (problems.answer, the same problem+json as the route's handlers): a purchase is never
  sent to the database twice for one request.
- A kiosk's purchase goes through the process's batcher (inventory/purchase_batch.py),
  whose batch numbers its events in its own transaction when it can and else rings the
  positioner. Any other purchase commits on its connection and rings the process's
  positioner (`Positioner.ring`): one round numbers every purchase that committed while
  the previous one ran, and the answer does not wait for that round's WAL flush.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockline import metrics
from stockline.api import problems
from stockline.api.deps import Services, get_principal, kiosk_credentials
from stockline.api.schemas import IdempotencyKey, PurchaseIn
from stockline.auth import Principal, token_hash
from stockline.errors import NotAuthenticated
from stockline.inventory import ledger
from stockline.inventory.models import PurchaseLine
from stockline.inventory.purchase_batch import KioskPurchase

PATH = "/api/purchases"
_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKey)
_REPLAYED = {"Idempotent-Replayed": "true"}


async def purchase(
    services: Services,
    request: Request,
    body: PurchaseIn,
    idempotency_key: str | None,
    principal: Principal | None = None,
) -> Response:
    """Authenticate (unless the caller did), record and commit the purchase, ring for its
    events' numbering, answer 201 (a replay: the first answer, with Idempotent-Replayed)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    lines = [PurchaseLine(i.product_id, i.quantity) for i in body.items]
    request_hash = hashlib.sha256(canonical.encode()).digest()
    kiosk_token = kiosk_credentials(request) if principal is None else None
    if kiosk_token is not None:
        # the kiosk's hot path: its token's lookup and the purchase in one statement,
        # shared with the kiosk purchases that arrive meanwhile (inventory/purchase_batch.py)
        # (numbered in its batch's transaction, or rung for the next round, there)
        found = await services.purchases.purchase(
            KioskPurchase(token_hash(kiosk_token), lines, idempotency_key, request_hash)
        )
        if found is None:
            raise NotAuthenticated("invalid or expired credentials")
        answer, replayed = found
        if not replayed:
            metrics.PURCHASES.inc()
    else:
        async with services.pool.connection() as conn:
            if principal is None:
                principal = await get_principal(request, conn)
            answer, replayed = await ledger.purchase(
                conn,
                kiosk_id=principal.id if principal.kind == "kiosk" else None,
                lines=lines,
                idempotency_scope=f"{principal.kind}:{principal.id}",
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        if not replayed:
            metrics.PURCHASES.inc()
            services.events.positioner.ring()  # numbered by the next round (positions.py)
    if replayed:
        return JSONResponse(answer, status_code=201, headers=_REPLAYED)
    return JSONResponse(answer, status_code=201)


class _Route:
    """What Observe labels a request's metrics with (FastAPI puts its route here)."""

    path = PATH


class PurchaseFastPath:
    """Serves plainly valid POST /api/purchases before FastAPI's routing (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        body, last = await _read_body(receive)
        replay = _replaying(body, last, receive)
        plain = None if services is None or last is not None else _plain(scope, body)
        if plain is None:
            await self.app(scope, replay, send)
            return
        assert services is not None
        scope["route"] = _Route
        metrics.PURCHASE_FAST_PATH.inc()
        request = Request(scope, replay)
        try:
            response = await purchase(services, request, *plain)
        except Exception as exc:
            response = problems.answer(exc, PATH)
        await response(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, or what came before a message that is not body (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replaying(body: bytes, last: Message | None, receive: Receive) -> Receive:
    """A receive that hands the body read already to whoever comes next, then goes on."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if last is not None:
        pending.append(last)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _plain(scope: Scope, body: bytes) -> tuple[PurchaseIn, str | None] | None:
    """(body, Idempotency-Key) when the request is plainly valid, else None (the route
    answers it, and says what is wrong)."""
    content_type: bytes | None = None
    keys: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"content-type":
            if content_type is not None:
                return None
            content_type = value
        elif name == b"idempotency-key":
            keys.append(value)
    if content_type is None or content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    if len(keys) > 1:
        return None
    try:
        key = _KEY.validate_python(keys[0].decode("latin-1")) if keys else None
        parsed: Any = json.loads(body)
        return PurchaseIn.model_validate(parsed), key
    except (ValueError, ValidationError, RecursionError):  # JSON errors are ValueErrors;
        return None  # nesting deeper than the parser's stack: the route answers 400
