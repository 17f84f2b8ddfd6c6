"""Import: files read as a stream, rows checked against the guideline, stored all or nothing."""
