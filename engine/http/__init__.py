"""HTTP plumbing shared by the feature packages' routes: JSON problem answers and bearer-token auth."""
