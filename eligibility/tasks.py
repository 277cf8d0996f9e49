"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

functions: list = []
