"""Users, passwords, roles and the guards that check them on the server."""
