"""Prints pyfastcdc's chunk boundaries (offset length per line) for a file, as an independent check.

Usage: python3 pyfastcdc_cuts.py FILE MIN AVG MAX NORMALIZATION
"""
import sys

from pyfastcdc.py import FastCDC  # the pure-Python reference, not the Cython build

path, minimum, average, maximum, normalization = sys.argv[1], *map(int, sys.argv[2:6])
data = open(path, "rb").read()
for chunk in FastCDC(average, min_size=minimum, max_size=maximum, normalized_chunking=normalization).cut_buf(data):
    print(chunk.offset, chunk.length)
