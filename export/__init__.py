"""edgesr.export"""
