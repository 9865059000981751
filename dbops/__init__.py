"""Database operations run from a laptop or CI, never inside a Lambda: schema migrations over the direct URL
(``dbops.migrations``, ``dbops.pooler``) and the point-in-time restore drill (``dbops.restore``).

``python -m dbops migrate|drill`` (``./ballast migrate``, ``./ballast drill restore``) is the command line.
"""

from typing import Final

# Where the migrations live unless ``ballast:migrationsDir`` says otherwise (relative to the repository).
DEFAULT_MIGRATIONS_DIR: Final = "app/migrations"
