"""shadowgate.proxy"""
