"""The core: domain types and pure functions every other part of the engine stands on.

Nothing here imports anything else of the project (a layering contract in tests/test_layers.py
checks it): the event envelope and stored records, the firm profile fold, decisions and verdicts,
event and notice status, China time, money, region and industry codes.
"""
