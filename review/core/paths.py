"""Where the service's non-Python parts live: templates, static files, migrations.

In the repository, templates/ and migrations/ sit at the top level beside review/; a built
wheel carries them inside the package as review/templates and review/migrations
(pyproject.toml maps them there). Each directory is looked up in that order, so the
same code runs from a checkout, an editable install and a plain `pip install`.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _bundled(name: str) -> Path:
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


TEMPLATES_DIR = _bundled("templates")
MIGRATIONS_DIR = _bundled("migrations")
STATIC_DIR = PACKAGE_DIR / "static"
