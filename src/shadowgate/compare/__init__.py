"""shadowgate.compare"""
