"""Getting a blessed model to its servers: the atomic Pusher executor (pusher.py)."""
