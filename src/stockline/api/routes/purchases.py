"""/api/purchases"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse

from stockline import metrics
from stockline.api.deps import AnyPrincipal, Conn
from stockline.api.schemas import IdempotencyKey, PurchaseIn, PurchaseOut
from stockline.errors import InvalidInput
from stockline.inventory import ledger
from stockline.inventory.models import PurchaseLine

router = APIRouter(prefix="/api/purchases", tags=["purchases"])


@router.post(
    "",
    status_code=201,
    response_model=PurchaseOut,
    responses={409: {"description": "Idempotency-Key reused with another body"}},
)
async def create_purchase(
    body: PurchaseIn,
    conn: Conn,
    principal: AnyPrincipal,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("Idempotency-Key must not be empty")
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    answer, replayed = await ledger.purchase(
        conn,
        kiosk_id=principal.id if principal.kind == "kiosk" else None,
        lines=[PurchaseLine(i.product_id, i.quantity) for i in body.items],
        idempotency_scope=f"{principal.kind}:{principal.id}",
        idempotency_key=idempotency_key,
        request_hash=hashlib.sha256(canonical.encode()).digest(),
    )
    if not replayed:
        metrics.PURCHASES.inc()
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer, status_code=201, headers=headers)
