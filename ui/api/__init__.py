"""The versioned JSON API (``/api/v1``), served by the console's process."""
