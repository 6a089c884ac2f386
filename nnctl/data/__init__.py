"""Data: reading tables, target columns, scaling, splits, and preparing a config's data.

Everything a model needs to read raw rows again lives here.
"""
