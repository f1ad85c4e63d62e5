"""Order Service domain package, shipped to every function as the `orders` Lambda layer.

Rooms, dependencies pointing inward: domain <- storage, upstream <- service, http, events <- wiring <- functions.
"""
