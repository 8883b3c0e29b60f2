"""Events: the transactional outbox, webhook deliveries and the dispatcher that sends them."""
