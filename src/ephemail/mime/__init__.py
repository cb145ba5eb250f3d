"""Pure MIME handling: header decoding, an offset-preserving splitter, the ingest summary.

Standard library only; imports nothing of the project but `ephemail.domain`.
"""

from ephemail.mime.parts import MimePart, parse_message
from ephemail.mime.summary import parse_summary

__all__ = ["MimePart", "parse_message", "parse_summary"]
