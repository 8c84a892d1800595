"""The firm's own page (我的政策): a signed, expiring link in every email opens a page listing the firm's
current decisions, where it confirms (确认) or objects to (有异议) each, and chooses which SMS it takes.

`store.FirmPageStore` is what it needs from storage, `rules` the pure rules (what the page says of a
decision, what an answer records), `web` the routes (`/my/{token}`). docs/firm_page.md describes it.
"""
