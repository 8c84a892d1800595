"""policy-push: 免申即享 — signed events in, firm profiles kept, measures matched, notices pushed."""
