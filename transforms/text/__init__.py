"""Text helpers shared by steps: word and sentence splitting, token estimates."""
