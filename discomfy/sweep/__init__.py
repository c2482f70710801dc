"""Parameter sweeps: a plan of runs over a workflow's inputs (grid, Sobol, LHS, random), run through the bot's
ComfyService with resume, recorded as metadata.csv and an HTML contact sheet."""
