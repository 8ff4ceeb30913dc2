"""The orders service: orders, their items and their status history."""
