"""kit/: the bottom layer every domain stands on (errors, database helpers, money, masking, time, audit shapes,
vocabulary). It imports no domain package and no HTTP framework."""
