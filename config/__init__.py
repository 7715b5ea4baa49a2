"""The ground floor: the settings, read once, and the values derived from them once.

Every other package may import it; it imports nothing of coach's but the event roles.
"""
