"""Tables of eligibility/."""
