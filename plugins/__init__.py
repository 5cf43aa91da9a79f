"""First-party lvrbench plugins, registered through the `lvrbench` entry-point group like any third-party package."""
