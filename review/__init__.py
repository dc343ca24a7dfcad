"""review: a human-in-the-loop review queue for AI model outputs."""
