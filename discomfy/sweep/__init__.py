"""Parameter exploration: what to vary in a workflow and over which values (axes.py for /sweep's X/Y plots), and
sweeps of a plan of runs (grid, Sobol, LHS, random) through the bot's ComfyService with resume, recorded as
metadata.csv and an HTML contact sheet."""
