"""A small shopping cart: the README's demo file (`switchboard complete tests/data/cart.py:18:22`)."""


def compute_subtotal(prices: list[float]) -> float:
    return sum(prices)


def compute_tax(subtotal: float, rate: float = 0.2) -> float:
    return round(subtotal * rate, 2)


def checkout(prices: list[float]) -> float:
    subtotal = compute_subtotal(prices)
    return subtotal + compute_tax(subtotal)


if __name__ == "__main__":
    total = compute_t
