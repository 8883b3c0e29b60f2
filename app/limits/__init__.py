"""Limits: token buckets (memory and Redis), per-principal policy, query cost and load shedding."""
