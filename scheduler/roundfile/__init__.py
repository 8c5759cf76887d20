"""roundfile."""
