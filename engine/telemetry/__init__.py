"""Metrics and logs shared by every long-running part of the service."""
