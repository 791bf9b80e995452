"""demix licensed training-data generator (multitrack songs with true stems)."""
