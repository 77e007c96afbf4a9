"""A terminal browser for records kept in a JSON file and in SQLite."""
