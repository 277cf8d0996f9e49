"""Tables of payments/."""
