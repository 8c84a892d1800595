"""Scale tests: the production profile with several real processes on PostgreSQL (marked `long`)."""
