"""An example lvrbench plugin package that ships a post-hoc sampler (see CONTRIBUTING.md)."""
