"""Tables of notifications/."""
