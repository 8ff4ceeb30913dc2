"""The inventory service: the product catalogue, stock levels and reservations."""
