"""SQL storage: the core records (observations, packets, deliveries, attempts, quarantine, audit)."""
