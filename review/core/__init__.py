"""The shared kernel: settings, database, models, clock, domain errors, the audit trail,
jobs, accounts and access rules. Imports nothing else of `review`."""
