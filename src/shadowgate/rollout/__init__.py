"""shadowgate.rollout"""
