"""Usage reports of rounds (who got the time) as JSON, CSV or XLSX; the file formats chosen by `Accept` or `format`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import QueryParameter
from pydantic import BaseModel

from api.controllers import SignedIn
from api.params import CurrentUser, Id, Session
from scheduler.reports.across import across_csv, across_xlsx
from scheduler.reports.formats import XLSX_MEDIA_TYPE, render_csv, render_xlsx
from scheduler.reports.service import RoundUsage, UsageAcrossRounds, round_usage, usage_across_rounds
from scheduler.reports.usage import Grouping
from scheduler.roundfile.quotas import Attribution

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
FileFormat = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[FileFormat, str] = {"json": JSON_MEDIA_TYPE, "csv": "text/csv", "xlsx": XLSX_MEDIA_TYPE}

Format = Annotated[
    FileFormat | None,
    QueryParameter(
        description="The answer's format; without it, `Accept` chooses (JSON unless it asks for CSV or XLSX)."
    ),
]
By = Annotated[
    Grouping,
    QueryParameter(description="What each row is: a country, country group, facility, instrument or proposal type."),
]
AttributionParameter = Annotated[
    Attribution,
    QueryParameter(
        description="`pi`: a proposal's shifts count for its PI's country; `team`: in equal parts over "
        "its team's countries (unconfirmed countries apart)."
    ),
]
VersionParameter = Annotated[
    int | None,
    QueryParameter(
        ge=1, le=99_999_999, description="A schedule version of the round (its id); by default the published one."
    ),
]
RoundList = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[1-9][0-9]{0,7}(,[1-9][0-9]{0,7}){0,99}$",
        description="Round ids, comma-separated (`1,2`); by default every round the caller may read that has a "
        "published schedule.",
    ),
]


def chosen_format(request: Request[Any, Any, Any], asked: FileFormat | None) -> FileFormat:
    """`format=` when given, else the best of JSON, CSV and XLSX for `Accept` (JSON when it names none)."""
    if asked is not None:
        return asked
    best = request.accept.best_match(list(MEDIA_TYPES.values()), default=JSON_MEDIA_TYPE)
    return next(name for name, media_type in MEDIA_TYPES.items() if media_type == best)


def download(body: str | bytes, file_format: Literal["csv", "xlsx"], name: str) -> Response[Any]:
    """A file the browser saves as `name` (made safe for the header) with its extension."""
    safe = "".join(character if character.isalnum() or character in "-_." else "_" for character in name)
    return Response(
        body,
        media_type=CSV_MEDIA_TYPE if file_format == "csv" else XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{safe}.{file_format}"'},
    )


@dataclass(frozen=True)
class UsageAsked:
    """What every usage report is asked for: a row per what (`by`), how shifts are attributed, and the format."""

    by: Grouping
    attribution: Attribution
    file_format: FileFormat

    def answer(
        self, data: BaseModel, name: str, as_csv: Callable[[], str], as_xlsx: Callable[[], bytes]
    ) -> Response[Any]:
        """`data` as JSON, or its CSV or XLSX rendering as a file named `name`."""
        if self.file_format == "csv":
            return download(as_csv(), "csv", name)
        if self.file_format == "xlsx":
            return download(as_xlsx(), "xlsx", name)
        return Response(data)


async def provide_usage_asked(
    request: Request[Any, Any, Any],
    by: By = "country",
    attribution: AttributionParameter = "pi",
    format: Format = None,
) -> UsageAsked:
    return UsageAsked(by, attribution, chosen_format(request, format))


Asked = NamedDependency[UsageAsked]


@dataclass
class FileAnswers(Operation):
    """The 200 answer documented in each format it comes in: JSON (the handler's model), CSV and XLSX files."""

    def __post_init__(self) -> None:
        answer = (self.responses or {}).get("200")
        if isinstance(answer, OpenAPIResponse) and answer.content is not None:
            answer.content[CSV_MEDIA_TYPE] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
            answer.content[XLSX_MEDIA_TYPE] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            )


def usage_report(model: type[Any], what: str) -> dict[str, Any]:
    """A usage report route's options: its 200 in each format (`model` as JSON) and what it is `asked`."""
    return {
        "responses": file_responses(model, what),
        "operation_class": FileAnswers,
        "dependencies": {"asked": Provide(provide_usage_asked)},
    }


def file_responses(model: type[Any], what: str) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(
            model,
            generate_examples=False,
            description=f"{what} as JSON; as CSV (`text/csv`, plain numbers, ratios as fractions) or XLSX "
            f"(`{XLSX_MEDIA_TYPE}`) when `Accept` or `format` asks, with a `Content-Disposition` file name.",
        )
    }


class ReportController(SignedIn):
    """Who got the time, as JSON, CSV or XLSX, for the rounds the caller may read: by country, group, facility,
    instrument or proposal type, per round or across rounds."""

    tags = ("reports",)

    @get(
        "/rounds/{round_id:int}/reports/usage",
        summary="Who got the round's time: requested, allocated and owed shifts, success rate, oversubscription",
        description="One row per country, country group, facility, instrument or proposal type (`by`), and the "
        "total, for the round's published schedule or `version`. The round's coordinators and admins only. "
        "A request counts where it got time, or, unallocated, at its first choice; owed shifts are the "
        "fair-return deficits of targets whose category is the row's.",
        **usage_report(RoundUsage, "The report"),
    )
    async def round_report(
        self,
        round_id: Id,
        db_session: Session,
        current_user: CurrentUser,
        asked: Asked,
        version: VersionParameter = None,
    ) -> Response[Any]:
        usage = await round_usage(db_session, current_user, round_id, asked.by, asked.attribution, version)
        return asked.answer(
            usage,
            f"{usage.report.round}-usage-by-{asked.by}",
            lambda: render_csv(usage.report),
            lambda: render_xlsx(usage.report),
        )

    @get(
        "/reports/usage",
        summary="Usage across rounds: one row per key and round",
        description="Each round's usage of its published schedule, oldest round first: those named in `rounds` "
        "(each must be the caller's to read, else 403 or 404) or every round the caller may read.",
        **usage_report(UsageAcrossRounds, "The reports"),
    )
    async def across_rounds(
        self, db_session: Session, current_user: CurrentUser, asked: Asked, rounds: RoundList = None
    ) -> Response[Any]:
        round_ids = None if rounds is None else [int(part) for part in rounds.split(",")]
        usage = await usage_across_rounds(db_session, current_user, asked.by, asked.attribution, round_ids)
        return asked.answer(usage, f"usage-by-{asked.by}", lambda: across_csv(usage), lambda: across_xlsx(usage))
