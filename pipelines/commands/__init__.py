"""The command line and its commands: run/validate (cli), train-quality, quickstart corpus, templates."""
