"""The BentoML dispatch service (service.py) and the supervisor review page (review.py)."""
