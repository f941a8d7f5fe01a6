"""The commands people run: the CLI, the demo, the replay simulation, seeding and the registry
view."""
