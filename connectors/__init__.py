"""Edges of the service: storage drivers, and (later) the email and SMS channels."""
