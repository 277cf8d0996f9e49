from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "SQLite: one index of the columns rules read per profile table (the matcher scans it)"

# A copy, as of this migration, of eligibility.store.RULE_INDEX.
RULE_INDEXES = {
    "eligibility_enterprise": ("eligibility_enterprise_rules",
                               ["id", "blacklisted", "high_tech", "employees", "new_graduate_hires", "founded_on_ymd",
                                "revenue_fen", "tax_paid_fen", "rd_expense_fen", "unemployment_insurance_paid_fen",
                                "credit_rating", "scale", "specialized", "region_code", "industry_code", "tags"]),
    "eligibility_talent": ("eligibility_talent_rules",
                           ["id", "social_insurance_months", "birth_on_ymd", "graduated_on_ymd", "arrived_on_ymd",
                            "education", "title", "region_code", "employer_uscc", "tags"]),
}


def _engine():
    from eligibility.tables import EnterpriseProfile

    return EnterpriseProfile._meta.db


async def create() -> None:
    engine = _engine()
    if engine.engine_type != "sqlite":
        return  # PostgreSQL orders and filters by its own means; this index would only cost its writes
    for table, (index, columns) in RULE_INDEXES.items():
        await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({', '.join(columns)})")


async def drop() -> None:
    engine = _engine()
    if engine.engine_type != "sqlite":
        return
    for index, _ in RULE_INDEXES.values():
        await engine.run_ddl(f"DROP INDEX IF EXISTS {index}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
