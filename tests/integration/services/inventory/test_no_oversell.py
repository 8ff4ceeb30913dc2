"""Concurrent reserves for the last units never sell more than there is."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

from shared.messages import ReservedItem, ReserveInventory
from tests.integration.services.inventory.conftest import running_inventory
from tests.support.stack import Stack

ORDERS = 50
STOCK = 10


async def test_fifty_concurrent_orders_for_ten_units_reserve_exactly_ten(stack: Stack) -> None:
    async with running_inventory(stack) as inventory:  # default prefetch: handled concurrently
        cups = await inventory.add_product(stock=STOCK)
        orders = [str(uuid.uuid4()) for _ in range(ORDERS)]

        await asyncio.gather(*(inventory.reserve(order, (cups, 1)) for order in orders))

        replies = [(await inventory.replies.wait(order, timeout=30))[0].type for order in orders]
        assert Counter(replies) == {
            "inventory.reserved": STOCK,
            "inventory.insufficient": ORDERS - STOCK,
        }
        product = await inventory.product_row(cups)
        assert (product.on_hand, product.reserved, product.available) == (STOCK, STOCK, 0)


async def test_concurrent_orders_over_the_same_products_in_any_order_neither_oversell_nor_deadlock(
    stack: Stack,
) -> None:
    async with running_inventory(stack) as inventory:
        products = [await inventory.add_product(stock=STOCK) for _ in range(3)]
        orders = [str(uuid.uuid4()) for _ in range(ORDERS)]
        shuffled = random.Random(7)

        await asyncio.gather(
            *(
                inventory.send(
                    ReserveInventory(
                        order_id=order,
                        items=[
                            ReservedItem(product_id=p, quantity=1)
                            for p in shuffled.sample(products, k=len(products))
                        ],
                    )
                )
                for order in orders
            )
        )

        replies = [(await inventory.replies.wait(order, timeout=30))[0].type for order in orders]
        assert Counter(replies)["inventory.reserved"] == STOCK
        for product_id in products:
            product = await inventory.product_row(product_id)
            assert (product.reserved, product.available) == (STOCK, 0)
