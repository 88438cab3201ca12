"""What a run reports: stats.json, the summary table, the data card and the dataset card."""
