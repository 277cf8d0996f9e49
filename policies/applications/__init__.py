"""依申请 and the portal's own records: applications with attachments, their review, objections (异议), and
each subject's confirmed receiving account."""
