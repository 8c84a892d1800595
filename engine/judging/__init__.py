"""Judging: the catalogue of clauses, the attributes derived from a profile, and the judge."""
