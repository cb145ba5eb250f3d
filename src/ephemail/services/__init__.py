"""Use cases. Services depend on ports (ephemail.ports) and the pure layers only."""
