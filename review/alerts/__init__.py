"""Alerts: conditions that tell supervisors before a queue goes bad, kept as episodes
(one open alert per condition) and POSTed to the alert webhook."""
