"""Tables of policies/."""
