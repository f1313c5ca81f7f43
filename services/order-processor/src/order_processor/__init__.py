"""order-processor: consumes new_order events and runs the order processing task."""
