"""The initial tables: catalogue, rounds, proposals, reviews, solve runs, schedule versions, accounts, audit."""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import flag, index, integer, json, moment, number, references, text

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "equipment",
        text("code", 64),
        text("name"),
        integer("units"),
        integer("id"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("equipment", "code", unique=True)

    op.create_table(
        "facility",
        text("code", 64),
        text("name"),
        text("country", 2),
        text("timezone"),
        integer("id"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("facility", "code", unique=True)

    op.create_table(
        "round",
        text("code", 64),
        text("name"),
        moment("start"),
        moment("end"),
        integer("shift_hours"),
        text("phase", 16),
        moment("call_closes", nullable=True),
        moment("review_closes", nullable=True),
        integer("frozen_horizon_days"),
        flag("auto_publish"),
        number("auto_publish_max_moved_share"),
        integer("nightly_hour"),
        integer("id"),
        integer("utc_offset_minutes"),
        json("scoring", nullable=True),
        integer("revision"),
        moment("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("round", "code", unique=True)

    op.create_table(
        "user",
        integer("id"),
        text("email", 254),
        text("name"),
        text("role", 16),
        text("password_hash"),
        flag("active"),
        text("calendar_token", 64),
        moment("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("user", "calendar_token", unique=True)
    index("user", "email", unique=True)

    op.create_table(
        "auditentry",
        integer("id"),
        moment("at"),
        integer("user_id", nullable=True),
        text("action", 64),
        text("entity", 32),
        text("entity_id", 64),
        json("detail"),
        references("user_id", "user"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("auditentry", "at")

    op.create_table(
        "coordinatorfacility",
        integer("user_id"),
        integer("facility_id"),
        references("facility_id", "facility"),
        references("user_id", "user"),
        sa.PrimaryKeyConstraint("user_id", "facility_id"),
    )
    op.create_table(
        "countrygroup",
        integer("id"),
        integer("round_id"),
        text("name"),
        json("countries"),
        integer("position"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "name"),
    )
    index("countrygroup", "round_id")

    op.create_table(
        "instrument",
        text("code", 64),
        text("name"),
        json("techniques"),
        integer("changeover_shifts"),
        number("reserve_share"),
        integer("id"),
        integer("facility_id"),
        integer("position"),
        references("facility_id", "facility"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("instrument", "code", unique=True)
    index("instrument", "facility_id")

    op.create_table(
        "proposal",
        text("code", 64),
        text("title"),
        text("type", 16),
        text("pi_name"),
        text("pi_institution"),
        text("pi_country", 2),
        number("priority", nullable=True),
        flag("technically_feasible"),
        integer("missed_rounds"),
        flag("first_time_users"),
        flag("early_career_pi"),
        integer("id"),
        integer("round_id"),
        integer("owner_id", nullable=True),
        flag("withdrawn"),
        integer("position"),
        moment("created_at"),
        moment("updated_at"),
        references("owner_id", "user"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "code"),
    )
    index("proposal", "owner_id")
    index("proposal", "round_id")

    op.create_table(
        "quota",
        text("code", 64),
        json("scope"),
        json("category"),
        number("min_share", nullable=True),
        number("max_share", nullable=True),
        text("attribution"),
        flag("soft"),
        number("penalty", nullable=True),
        integer("id"),
        integer("round_id"),
        integer("position"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "code"),
    )
    index("quota", "round_id")

    op.create_table(
        "roundinstrument",
        integer("round_id"),
        integer("instrument_id"),
        integer("position"),
        references("instrument_id", "instrument"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("round_id", "instrument_id"),
    )
    op.create_table(
        "roundequipment",
        integer("round_id"),
        integer("equipment_id"),
        integer("position"),
        references("equipment_id", "equipment"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("round_id", "equipment_id"),
    )
    op.create_table(
        "roundfacility",
        integer("round_id"),
        integer("facility_id"),
        integer("position"),
        references("facility_id", "facility"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("round_id", "facility_id"),
    )
    op.create_table(
        "scheduleversion",
        integer("id"),
        integer("round_id"),
        integer("number"),
        text("status", 16),
        text("source", 16),
        number("objective", nullable=True),
        number("bound", nullable=True),
        text("solve_status", nullable=True),
        text("note"),
        integer("created_by", nullable=True),
        moment("created_at"),
        integer("published_by", nullable=True),
        moment("published_at", nullable=True),
        references("created_by", "user"),
        references("published_by", "user"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "number"),
    )
    index("scheduleversion", "round_id")
    op.create_index(
        "one_published_per_round",
        "scheduleversion",
        ["round_id"],
        unique=True,
        sqlite_where=sa.text("status = 'published'"),
        postgresql_where=sa.text("status = 'published'"),
    )

    op.create_table(
        "link",
        integer("id"),
        integer("proposal_id"),
        text("type", 16),
        json("requests", nullable=True),
        text("first", nullable=True),
        text("then", nullable=True),
        integer("min_gap_shifts"),
        integer("max_gap_shifts", nullable=True),
        integer("position"),
        references("proposal_id", "proposal"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("link", "proposal_id")

    op.create_table(
        "request",
        text("code", 64),
        json("instruments"),
        integer("shifts"),
        integer("min_shifts", nullable=True),
        json("equipment"),
        moment("earliest", nullable=True),
        moment("latest", nullable=True),
        json("unavailable"),
        integer("id"),
        integer("proposal_id"),
        integer("round_id"),
        integer("position"),
        references("proposal_id", "proposal"),
        references("round_id", "round"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "code"),
    )
    index("request", "proposal_id")
    index("request", "round_id")

    op.create_table(
        "review",
        integer("id"),
        integer("proposal_id"),
        text("reviewer"),
        integer("reviewer_id", nullable=True),
        number("grade"),
        flag("conflict"),
        text("comment"),
        integer("position"),
        references("proposal_id", "proposal"),
        references("reviewer_id", "user"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("proposal_id", "reviewer"),
    )
    index("review", "proposal_id")
    index("review", "reviewer_id")

    op.create_table(
        "reviewassignment",
        integer("proposal_id"),
        integer("user_id"),
        references("proposal_id", "proposal"),
        references("user_id", "user"),
        sa.PrimaryKeyConstraint("proposal_id", "user_id"),
    )
    op.create_table(
        "solverun",
        integer("id"),
        integer("round_id"),
        text("state", 16),
        text("kind", 16),
        text("run_key", 128, nullable=True),
        json("settings"),
        json("input", nullable=True),
        json("output", nullable=True),
        json("progress", nullable=True),
        text("error", nullable=True),
        flag("cancel_requested"),
        integer("requested_by", nullable=True),
        text("worker", nullable=True),
        integer("schedule_version_id", nullable=True),
        moment("created_at"),
        moment("started_at", nullable=True),
        moment("heartbeat_at", nullable=True),
        moment("finished_at", nullable=True),
        references("requested_by", "user"),
        references("round_id", "round"),
        references("schedule_version_id", "scheduleversion"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_key"),
    )
    index("solverun", "round_id")
    index("solverun", "state")

    op.create_table(
        "teammember",
        integer("id"),
        integer("proposal_id"),
        text("name"),
        text("institution"),
        text("country", 2),
        integer("position"),
        references("proposal_id", "proposal"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("teammember", "proposal_id")

    op.create_table(
        "window",
        moment("start"),
        moment("end"),
        text("kind", 32),
        text("reason"),
        integer("id"),
        integer("facility_id", nullable=True),
        integer("instrument_id", nullable=True),
        integer("position"),
        references("facility_id", "facility"),
        references("instrument_id", "instrument"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("window", "facility_id")
    index("window", "instrument_id")

    op.create_table(
        "allocation",
        integer("id"),
        integer("schedule_version_id"),
        integer("request_id"),
        integer("instrument_id"),
        integer("start_shift"),
        integer("shifts"),
        flag("pinned"),
        references("instrument_id", "instrument"),
        references("request_id", "request"),
        references("schedule_version_id", "scheduleversion"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_version_id", "request_id"),
    )
    index("allocation", "request_id")
    index("allocation", "schedule_version_id")
    op.create_table(
        "changenotice",
        integer("id"),
        integer("proposal_id"),
        text("request_code", 64),
        integer("schedule_version_id"),
        text("kind", 16),
        json("before", nullable=True),
        json("after", nullable=True),
        text("reason"),
        moment("created_at"),
        references("proposal_id", "proposal"),
        references("schedule_version_id", "scheduleversion"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("changenotice", "proposal_id")
    index("changenotice", "schedule_version_id")


def downgrade() -> None:
    op.drop_table("changenotice")
    op.drop_table("allocation")
    op.drop_table("window")
    op.drop_table("teammember")
    op.drop_table("solverun")
    op.drop_table("reviewassignment")
    op.drop_table("review")
    op.drop_table("request")
    op.drop_table("link")
    op.drop_table("scheduleversion")
    op.drop_table("roundfacility")
    op.drop_table("roundinstrument")
    op.drop_table("roundequipment")
    op.drop_table("quota")
    op.drop_table("proposal")
    op.drop_table("instrument")
    op.drop_table("countrygroup")
    op.drop_table("coordinatorfacility")
    op.drop_table("auditentry")
    op.drop_table("user")
    op.drop_table("round")
    op.drop_table("facility")
    op.drop_table("equipment")
