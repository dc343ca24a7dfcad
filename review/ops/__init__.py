"""Operations: the periodic work that keeps the service honest (SLA clock, sweeper,
schedule, retention), backups, Prometheus metrics and demo data."""
