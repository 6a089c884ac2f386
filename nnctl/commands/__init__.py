"""One module per command. Each takes validated inputs and returns results; printing is
``render``'s, parsing is ``cli``'s.
"""
