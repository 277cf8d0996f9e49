"""Jobs of payments/ (arq job functions named payments.verb)."""

functions: list = []
