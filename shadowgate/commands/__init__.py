"""shadowgate.commands"""
