"""The web entry point: the aiohttp app factory and the operators' JSON API."""
