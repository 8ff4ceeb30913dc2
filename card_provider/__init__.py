"""A card provider in test mode, run beside OMS as its own process with its own storage."""
