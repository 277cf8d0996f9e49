"""The JSON shapes of the platform's own API (``XRead``), where no domain schema fits, and its error responses.

A domain's own ``XRead`` (payments/schemas.py, policies/schemas.py, …) is answered as it is; these describe what
app/ assembles from several services, or what a service hands over as plain rows.
"""
