"""The users service (port 3003): accounts, password hashes, addresses, JWT issuing."""
