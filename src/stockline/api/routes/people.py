"""/api/admin/admins and /api/admin/kiosks: people managed in the portal (SPEC 7.3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from stockline import people
from stockline.api.deps import Admin, Conn
from stockline.api.schemas import (
    ID_MAX,
    AdminAccountOut,
    AdminCreateIn,
    AdminPatchIn,
    KioskAccountOut,
    KioskCreateIn,
    KioskPatchIn,
    NewKioskOut,
)

router = APIRouter(prefix="/api/admin", tags=["people"])
AccountId = Annotated[int, Path(ge=1, le=ID_MAX)]


@router.get("/admins", response_model=list[AdminAccountOut])
async def list_admins(conn: Conn, admin: Admin) -> list[AdminAccountOut]:
    return [AdminAccountOut.model_validate(a) for a in await people.list_admins(conn)]


@router.post("/admins", status_code=201, response_model=AdminAccountOut)
async def create_admin(body: AdminCreateIn, conn: Conn, admin: Admin) -> AdminAccountOut:
    made = await people.create_admin(conn, email=body.email, password=body.password)
    return AdminAccountOut.model_validate(made)


@router.patch(
    "/admins/{admin_id}",
    response_model=AdminAccountOut,
    description="Disable or enable an admin, or reset the password; disabling and resetting "
    "end every session of that admin. Disabling yourself → 409.",
)
async def patch_admin(
    admin_id: AccountId, body: AdminPatchIn, conn: Conn, admin: Admin
) -> AdminAccountOut:
    changed = await people.update_admin(
        conn, admin_id, disabled=body.disabled, password=body.password, acting_admin_id=admin.id
    )
    return AdminAccountOut.model_validate(changed)


@router.get("/kiosks", response_model=list[KioskAccountOut])
async def list_kiosks(conn: Conn, admin: Admin) -> list[KioskAccountOut]:
    return [KioskAccountOut.model_validate(k) for k in await people.list_kiosks(conn)]


@router.post(
    "/kiosks",
    status_code=201,
    response_model=NewKioskOut,
    description="Creates a kiosk; the answer carries its token, the only time it is shown.",
)
async def create_kiosk(body: KioskCreateIn, conn: Conn, admin: Admin) -> NewKioskOut:
    return NewKioskOut.model_validate(await people.create_kiosk(conn, name=body.name))


@router.patch(
    "/kiosks/{kiosk_id}",
    response_model=KioskAccountOut,
    description="Revoke (disabled: true) or rename a kiosk; a disabled kiosk's token gets 401 "
    "from the next request on.",
)
async def patch_kiosk(
    kiosk_id: AccountId, body: KioskPatchIn, conn: Conn, admin: Admin
) -> KioskAccountOut:
    changed = await people.update_kiosk(conn, kiosk_id, disabled=body.disabled, name=body.name)
    return KioskAccountOut.model_validate(changed)
