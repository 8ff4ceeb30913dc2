"""The payments service (port 3004): saved payment methods, payments, refunds, and a
simulated card gateway behind an adapter interface."""
