"""A demo runner that dies of a real segmentation fault in native code.

faulthandler prints the Python frames on the fatal signal, as inference
runners do, and the process ends by SIGSEGV.
"""
import ctypes
import faulthandler
import sys

faulthandler.enable()
print("warming up the kernel cache", file=sys.stderr)
sys.stderr.flush()


def read_weights():
    # Reading address 0 faults inside libc, outside Python's control.
    return ctypes.string_at(0)


read_weights()
