"""HTTP plumbing shared by the feature packages' routes: JSON problem answers, token auth, app keys."""
