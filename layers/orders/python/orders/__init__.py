"""Order Service domain package, shipped to every function as the `orders` Lambda layer.

Layering (dependencies point inward): models/status (pure) <- repository, clients <- service <- api.
"""
