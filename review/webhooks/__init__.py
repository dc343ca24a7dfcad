"""Webhooks: signing, the outbox (the one place a delivery is created) and delivery
(signed POSTs with retries through RQ)."""
