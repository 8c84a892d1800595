"""The web entry point: the aiohttp app factory (wiring every feature to the store), the operators' JSON
API and its OpenAPI document, and the real notice senders."""
