"""Bank adapters: the HTTP client of the bank gateway contract, and the bundled simulator of it."""
