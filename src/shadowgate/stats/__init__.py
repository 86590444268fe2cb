"""shadowgate.stats"""
