"""The payments service (port 3004): saved payment methods, payments and refunds,
charged through the card provider (``card_provider/``) behind a gateway interface."""
