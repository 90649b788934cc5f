"""Export: curated marts to files (and, later, MongoDB and the training dataset)."""
