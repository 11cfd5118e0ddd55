"""The real service, end to end: started as a user starts it, driven as clients drive it."""
