"""`python -m ephemail` runs the CLI."""

from ephemail.cli import main

main()
