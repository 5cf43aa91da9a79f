"""An example lvrbench plugin package (see CONTRIBUTING.md)."""
