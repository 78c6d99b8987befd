"""Layers built from tensor primitives, each a drop-in twin of its ``torch.nn`` namesake.

Same constructor arguments, same parameter and buffer names (so state_dicts load either
way), same outputs and gradients: the tests check each against torch.
"""
