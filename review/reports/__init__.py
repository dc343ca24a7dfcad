"""Reports for supervisors: queue health and backlog, the SLA report, reviewer workload,
quality, daily rollups and the charts that draw them."""
