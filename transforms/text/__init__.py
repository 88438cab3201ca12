"""Text helpers shared by steps: word and sentence splitting, word hashing, token estimates."""
