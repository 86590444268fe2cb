"""shadowgate.store"""
