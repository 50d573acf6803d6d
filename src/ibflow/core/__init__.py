"""Kernel: settings, the error tree, typed ids, money, the clock and logging. Imports nothing of ibflow."""
