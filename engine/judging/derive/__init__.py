"""Derived firm attributes: the profile (docs/profile.md) flattened for the rules.

Each module computes one family of attributes from its published source:
size_class (工信部联企业〔2011〕300号), sectors (GB/T 4754-2017, 《三次产业划分规定》),
small_low_profit (财税〔2019〕13号), regions (GB/T 2260 via python-stdnum), and
attributes, which assembles them as of a date.
"""

from engine.judging.derive.attributes import ATTRIBUTE_TYPES, attributes

__all__ = ["ATTRIBUTE_TYPES", "attributes"]
