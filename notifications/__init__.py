"""notifications/ (通知): delivers a notice of a kind, with a context, to a recipient's inbox, email, SMS and
webhook. Knows nothing of policies or money and imports no other domain."""
