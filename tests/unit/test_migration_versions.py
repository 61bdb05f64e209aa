"""Migration files: one version each, so every database applies them in one order."""

from stockline.db.migrate import available_migrations


def test_every_shipped_migration_has_its_own_version_number() -> None:
    versions = [version for version, _, _ in available_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
