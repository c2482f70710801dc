"""Parameter exploration: what to vary in a workflow, over which values, and how the runs are laid out."""
