"""Reading comprehension with a hidden source: items, quotes, generated stories, loaders."""
