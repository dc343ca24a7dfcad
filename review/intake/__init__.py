"""Intake: items arrive, are validated and routed (auto-approve, secondary check, human),
in bulk or one by one."""
