from order_processor.config import get_settings
from order_processor.db.models import Base
from service_kit.migrations import run_migrations

run_migrations(Base.metadata, get_settings().database_url)
