"""Fuzz tests: schemathesis against the OpenAPI document and the webhooks, hypothesis on validation."""
