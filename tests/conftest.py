from tests.fixtures.postgres import fresh_db, module_db, pg_admin_url, template_db
from tests.fixtures.restartable_pg import own_postgres
from tests.fixtures.server import server_factory, shop
from tests.fixtures.smtp import smtp_server

__all__ = [
    "fresh_db",
    "module_db",
    "own_postgres",
    "pg_admin_url",
    "server_factory",
    "shop",
    "smtp_server",
    "template_db",
]
