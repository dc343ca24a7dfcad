"""Human review: claims and leases, assignment, verdicts and consensus, memberships and
the data of the item page. `decisions` is the one place a final outcome is written."""
