"""/api/purchases (the documented route; plainly valid requests are served by the fast
path in api/purchasing.py, which runs the same command)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from stockline.api import purchasing
from stockline.api.deps import PrincipalBriefly, ServicesDep
from stockline.api.schemas import IdempotencyKey, PurchaseIn, PurchaseOut

router = APIRouter(prefix=purchasing.PATH, tags=["purchases"])


@router.post(
    "",
    status_code=201,
    response_model=PurchaseOut,
    responses={409: {"description": "Idempotency-Key reused with another body"}},
)
async def create_purchase(
    body: PurchaseIn,
    request: Request,
    services: ServicesDep,
    principal: PrincipalBriefly,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    return await purchasing.purchase(services, request, body, idempotency_key, principal)
