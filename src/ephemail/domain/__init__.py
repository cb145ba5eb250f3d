"""Pure values and rules of ephemail. Standard library only, no I/O."""
