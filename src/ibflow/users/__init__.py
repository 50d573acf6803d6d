"""Users: accounts with roles and argon2-hashed passwords (the login work builds sessions on this)."""
