"""Jobs of notifications/ (arq job functions named notifications.verb)."""

functions: list = []
