"""Test doubles kept with the engine, as procrastinate keeps its in-memory connector in `testing.py`.

`memory_storage.InMemoryStorage` implements every store interface in process memory, with the same
promises as the SQL store (the same contract tests run on both); `memory_channels` holds SMS and
email senders that keep what they were given. Nothing in production imports this package.
"""
