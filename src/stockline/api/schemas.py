"""HTTP shapes. No input can reach the database in a form it refuses (no 500s): every
integer is bounded, every string is `Text` (no NUL, no unpaired surrogate), every
time `Moment` (in range once turned to UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

ID_MAX = 2**63 - 1
QTY_MAX = 1_000_000
DELTA_MAX = 1_000_000_000
PRICE_MAX = 10_000_000_000


def _whole_number(value: object) -> object:
    # JSON has one number type: 2250.0 is the integer 2250 (JSON Schema agrees), while
    # 2250.5, "2250" and true stay errors under the strict models
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# after the Field, so the bounds still appear in the JSON Schema
_WHOLE = BeforeValidator(_whole_number)
WHOLE = _WHOLE  # for routes that declare their own bodies (api/routes/kiosk.py)
Id = Annotated[int, Field(ge=1, le=ID_MAX), _WHOLE]

_SURROGATE = re.compile("[\ud800-\udfff]")
STRING_NOT_STORABLE = "string_not_storable"


def storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot carry an unpaired surrogate
    (JSON's "\\ud800" escape makes one): refuse both before they reach a query."""
    if "\x00" in value:
        raise PydanticCustomError(STRING_NOT_STORABLE, "text must not contain NUL (U+0000)")
    if _SURROGATE.search(value):
        raise PydanticCustomError(
            STRING_NOT_STORABLE, "text must not contain an unpaired surrogate (U+D800-U+DFFF)"
        )
    return value


# The one string type of every input, body field, query parameter and header alike;
# narrower types add constraints to it. The schema says "no NUL" too, so a generator
# of valid requests (the fuzz run) does not send one; JSON Schema has no way to say
# "no lone surrogate" (a JSON Schema string is Unicode text already).
Text = Annotated[
    str, AfterValidator(storable), Field(json_schema_extra={"not": {"pattern": "\\u0000"}})
]
# After a validator, one StringConstraints checks the length before it strips (so " "
# passed min_length=1 and reached a CHECK as ""): strip first, in a constraint of its own.
# The schema says "not blank" (`\S`) too: a constraint after a validator leaves the schema,
# and a generator of valid requests must not send what the strip turns into "".
_NOT_BLANK = Field(json_schema_extra={"pattern": r"\S"})
Text200 = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=200),
    _NOT_BLANK,
]
Sku = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=64),
    _NOT_BLANK,
]
Reason = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=500),
    _NOT_BLANK,
]
Threshold = Annotated[int, Field(ge=0, le=DELTA_MAX), _WHOLE]
Category = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=100),
    _NOT_BLANK,
]
# what a scanner types: printable ASCII without spaces (EAN/UPC digits, Code 128, SKUs)
_BARCODE = r"^[!-~]+$"
Barcode = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=64, pattern=_BARCODE),
    # a constraint after a validator is checked but leaves the schema: say it again there
    Field(json_schema_extra={"pattern": _BARCODE}),
]

IdempotencyKey = Annotated[
    Text,
    StringConstraints(min_length=1, max_length=200, pattern=r"\S"),
    Field(json_schema_extra={"pattern": r"\S"}),
]


def _in_utc_range(value: datetime) -> datetime:
    # +14:00 on 0001-01-01 or -14:00 on 9999-12-31 is a valid ISO time that Python cannot
    # turn to UTC; a naive time stays naive (the caller decides, or refuses a mix)
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("datetime_out_of_range", "the time is out of range") from None


# every time a client sends
Moment = Annotated[datetime, AfterValidator(_in_utc_range)]


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


# A field a client may leave out (to keep its value) but not send as null: None is its
# default, never a value; /openapi.json does not offer null for it.
Unless = SkipJsonSchema[None]


def _refuse_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed", "may not be null: leave the field out to keep its value"
        )
    return value


def _not_null(*fields: str) -> Any:
    return field_validator(*fields, mode="before")(_refuse_null)


class LoginIn(_In):
    email: Annotated[Text, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[Text, StringConstraints(min_length=1, max_length=1024)]


class KioskPairIn(_In):
    token: Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class ProductCreate(_In):
    sku: Sku
    name: Text200
    price_cents: Annotated[int, Field(ge=0, le=PRICE_MAX), _WHOLE]
    low_stock_threshold: Threshold | None = None
    initial_stock: Annotated[int, Field(ge=0, le=DELTA_MAX), _WHOLE] = 0
    active: bool = True
    category: Category | None = None
    barcode: Barcode | None = None


class ProductPatch(_In):
    name: Text200 | Unless = None
    price_cents: Annotated[int, Field(ge=0, le=PRICE_MAX), _WHOLE] | Unless = None
    low_stock_threshold: Threshold | None = None
    active: bool | Unless = None
    # null clears these; an absent field leaves them alone
    category: Category | None = None
    barcode: Barcode | None = None

    _present = _not_null("name", "price_cents", "active")


class PurchaseItemIn(_In):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=QTY_MAX), _WHOLE]


class PurchaseIn(_In):
    items: Annotated[list[PurchaseItemIn], Field(min_length=1, max_length=100)]


class AdjustmentIn(_In):
    # "not 0" is in the JSON Schema too, so clients (and the fuzzer) know it
    delta: Annotated[
        int,
        Field(ge=-DELTA_MAX, le=DELTA_MAX, json_schema_extra={"not": {"const": 0}}),
        _WHOLE,
    ]
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be 0")
        return value


class ReconciliationIn(_In):
    counted_quantity: Annotated[int, Field(ge=0, le=DELTA_MAX), _WHOLE]
    reason: Reason


class TrackingIn(_In):
    enabled: bool


_EMAIL = {"format": "email"}  # checked with email-validator (RFC 5322 syntax, no DNS)


class SnoozeIn(_In):
    # a JSON string parsed leniently (strict mode refuses strings for datetimes); naive
    # times are refused by the service with a clear 422
    until: Annotated[Moment | None, Field(strict=False)] = None
    until_restocked: bool = False


class DigestIn(_In):
    # the times and zone are checked by stockline.alerts.digest (one 422 naming each)
    enabled: bool
    times: Annotated[list[Annotated[Text, Field(max_length=5)]], Field(max_length=24)] = ["08:00"]
    timezone: Annotated[Text, Field(min_length=1, max_length=64)] = "UTC"


class WebhookIn(_In):
    url: Annotated[Text, Field(min_length=1, max_length=2048)]
    # write-only: a problem never echoes a field named secret (api/problems.py); length
    # and characters are checked by stockline.alerts.webhooks. Omitted: keep the stored one.
    secret: Text | None = Field(default=None, json_schema_extra={"writeOnly": True})


class ConfigIn(_In):
    notification_recipients: (
        Annotated[
            list[Annotated[Text, Field(min_length=3, max_length=320, json_schema_extra=_EMAIL)]],
            Field(max_length=100),
        ]
        | Unless
    ) = None
    inventory_tracking_enabled: bool | Unless = None
    notification_digest: DigestIn | Unless = None
    notification_webhooks: Annotated[list[WebhookIn], Field(max_length=10)] | Unless = None

    _present = _not_null(
        "notification_recipients",
        "inventory_tracking_enabled",
        "notification_digest",
        "notification_webhooks",
    )


# ---------------------------------------------------------------- answers


class _Out(BaseModel):
    # answers are validated from the services' frozen dataclasses
    model_config = ConfigDict(from_attributes=True)


class SnoozeOut(_Out):
    until: datetime | None
    until_restocked: bool
    created_at: datetime


class SnapshotOut(_Out):
    product_id: int
    current_stock: int
    low_stock_flag: bool
    negative_flag: bool
    tracking_enabled: bool
    last_activity_at: datetime | None
    # the active snooze (SPEC §7.4): breaches are logged as `suppressed` while it lasts
    snooze: SnoozeOut | None = None


class InventoryOut(SnapshotOut):
    sku: str
    name: str
    low_stock_threshold: int | None
    tracking_effective: bool


class ProductOut(_Out):
    id: int
    sku: str
    name: str
    price_cents: int
    low_stock_threshold: int | None
    active: bool
    stock_quantity: int
    category: str | None
    barcode: str | None
    created_at: datetime
    updated_at: datetime
    snapshot: SnapshotOut


class LedgerEntryOut(_Out):
    id: int
    product_id: int
    delta: int
    source: str
    reason: str | None
    admin_id: int | None
    transaction_id: int | None
    created_at: datetime


class LedgerLineOut(LedgerEntryOut):
    actor: str | None = Field(description="the admin's email, or the purchasing kiosk's name")
    actor_kind: Literal["admin", "kiosk"] | None
    balance_after: int = Field(description="the product's stock right after this row")


class LedgerPageOut(BaseModel):
    items: list[LedgerLineOut]
    next_before_id: int | None


class StockChangeOut(BaseModel):
    entry: LedgerEntryOut | None
    snapshot: InventoryOut


class PurchaseLineOut(BaseModel):
    product_id: int
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class PurchaseOut(BaseModel):
    transaction_id: int
    total_cents: int
    items: list[PurchaseLineOut]
    created_at: datetime


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    csrf_token: str
    expires_in: int


class SmtpOut(BaseModel):
    configured: bool
    host: str | None
    port: int | None
    from_: str | None = Field(serialization_alias="from")


class DigestOut(BaseModel):
    enabled: bool
    times: list[str]
    timezone: str
    next_at: datetime | None  # the next digest mail, when enabled


class WebhookOut(BaseModel):
    url: str
    has_secret: bool  # the secret itself is never returned
    channel: str  # how attempts and logs name this webhook


class ConfigOut(BaseModel):
    notification_recipients: list[str]
    inventory_tracking_enabled: bool
    notification_digest: DigestOut
    notification_webhooks: list[WebhookOut]
    smtp: SmtpOut


class ProblemErrorItem(BaseModel):
    """One invalid input: where (`loc`), why (`msg`), and small scalar inputs echoed back."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str | None = None
    input: str | int | float | bool | None = None


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every 4xx and 5xx answer."""

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemErrorItem] | None = None


class MeOut(BaseModel):
    kind: Literal["admin", "kiosk"]
    id: int
    name: str


class ImportErrorOut(_Out):
    line: int
    field: str | None
    message: str


class ImportOut(_Out):
    created: int
    updated: int
    unchanged: int
    dry_run: bool
    errors: list[ImportErrorOut]


# ---------------------------------------------------------------- stocktakes


class StocktakeIn(_In):
    # absent or null: every active product
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)] | None = None
    note: Annotated[
        Text, StringConstraints(strip_whitespace=True), StringConstraints(max_length=500)
    ]


class CountIn(_In):
    counted_quantity: Annotated[int, Field(ge=0, le=DELTA_MAX), _WHOLE]


class StocktakeLineOut(_Out):
    product_id: int
    sku: str
    name: str
    barcode: str | None
    current_stock: int
    counted_quantity: int | None
    stock_at_count: int | None
    counted_by: str | None
    counted_at: datetime | None
    delta: int | None
    ledger_id: int | None


class StocktakeOut(_Out):
    id: int
    note: str
    status: Literal["open", "committed", "abandoned"]
    created_at: datetime
    created_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    lines: list[StocktakeLineOut]
    entries: list[LedgerEntryOut]


class StocktakeSummaryOut(_Out):
    id: int
    note: str
    status: Literal["open", "committed", "abandoned"]
    created_at: datetime
    created_by: str | None
    closed_at: datetime | None
    line_count: int
    counted_count: int


# ---------------------------------------------------------------- insight


class DayPointOut(_Out):
    date: date
    stock: int
    sold: int


class InsightOut(_Out):
    product_id: int
    days: int
    lead_days: int
    current_stock: int
    low_stock_threshold: int | None
    sold: int
    sold_per_day: float
    days_of_cover: float | None
    suggested_reorder_quantity: int
    series: list[DayPointOut]


class ReorderItemOut(_Out):
    product_id: int
    sku: str
    name: str
    current_stock: int
    low_stock_threshold: int | None
    sold: int
    sold_per_day: float
    days_of_cover: float | None
    suggested_reorder_quantity: int


# ---------------------------------------------------------------- people

Password = Annotated[Text, StringConstraints(min_length=8, max_length=1024)]


class AdminCreateIn(_In):
    email: Annotated[
        Text,
        StringConstraints(strip_whitespace=True),
        StringConstraints(min_length=3, max_length=320),
        Field(json_schema_extra=_EMAIL),
    ]
    password: Password


class AdminPatchIn(_In):
    disabled: bool | Unless = None
    password: Password | Unless = None  # a reset: every session of that admin ends

    _present = _not_null("disabled", "password")


class KioskCreateIn(_In):
    name: Text200


class KioskPatchIn(_In):
    disabled: bool | Unless = None
    name: Text200 | Unless = None

    _present = _not_null("disabled", "name")


class AdminAccountOut(_Out):
    id: int
    email: str
    created_at: datetime
    disabled: bool


class KioskAccountOut(_Out):
    id: int
    name: str
    created_at: datetime
    disabled: bool


class NewKioskOut(KioskAccountOut):
    token: str = Field(description="the kiosk's token: shown in this answer only")


# ---------------------------------------------------------------- lists and bulk actions

ProductSort = Literal[
    "id",
    "-id",
    "sku",
    "-sku",
    "name",
    "-name",
    "category",
    "-category",
    "price_cents",
    "-price_cents",
    "current_stock",
    "-current_stock",
    "low_stock_threshold",
    "-low_stock_threshold",
    "created_at",
    "-created_at",
]
SearchText = Annotated[
    Text,
    StringConstraints(strip_whitespace=True),
    StringConstraints(min_length=1, max_length=100),
    _NOT_BLANK,
]
BulkIds = Annotated[list[Id], Field(min_length=1, max_length=1000)]


class BulkAdjustIn(AdjustmentIn):
    product_ids: BulkIds
    action: Literal["adjust"]


class BulkThresholdIn(_In):
    product_ids: BulkIds
    action: Literal["threshold"]
    low_stock_threshold: Threshold | None  # required; null clears it


class BulkActiveIn(_In):
    product_ids: BulkIds
    action: Literal["deactivate", "activate"]


# one shape per action, told apart by `action` (so the schema says what each needs)
BulkIn = Annotated[BulkAdjustIn | BulkThresholdIn | BulkActiveIn, Field(discriminator="action")]


class BulkOut(_Out):
    products: list[ProductOut]
    entries: list[LedgerEntryOut]
