"""The provider's ledger: every charge and refund it was asked for, by idempotency key.

A row is written once, in the transaction that decides it, and never changed: a
request repeated with the same key is answered from its row.  The tables are kept
apart from ``SQLModel.metadata``, which holds OMS's own services' tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, MetaData, String, Table

from shared.persistence.columns import UtcDateTime

metadata = MetaData()

CHARGES = Table(
    "charges",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("token", String(128), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("code", String(50), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

REFUNDS = Table(
    "refunds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("charge_id", String(40), ForeignKey("charges.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("code", String(50), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_refunds_charge_id", "charge_id"),
)
