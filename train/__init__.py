"""edgesr.train"""
