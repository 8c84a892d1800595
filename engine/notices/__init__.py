"""Notices: what a firm is told about a decision, rendered for SMS and email, and sent once."""
