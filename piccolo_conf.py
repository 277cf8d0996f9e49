"""For the `piccolo` command line (migrations); the platform itself uses app.piccolo_conf."""

from app.piccolo_conf import APP_REGISTRY, DB  # noqa: F401
