"""An example lvrbench plugin package that ships a pretrained generator (see CONTRIBUTING.md)."""
