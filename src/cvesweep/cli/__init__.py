"""The command line: parse flags, build settings, call the API, render, map errors to exits."""
