"""orders-service: the orders API, its Redis cache and the transactional outbox relay."""
