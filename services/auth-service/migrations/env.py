from auth_service.config import get_settings
from auth_service.db.models import Base
from service_kit.migrations import run_migrations

run_migrations(Base.metadata, get_settings().database_url)
