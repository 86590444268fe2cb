"""shadowgate.control"""
