"""The investigation: its parameters (`params`), its state and actions (`state`), its
history over time (`history`), and how it lives in a notebook (`notebook_format`)."""
